package sim

import (
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
)

// initHostTime is how long nova-compute's init_host runs before the service
// joins the service group again (it destroys evacuated guests first).
const initHostTime = 3 * time.Second

// StopProc stops a process on a host, as `docker stop` or `systemctl stop`.
func (w *World) StopProc(h *Host, p Proc) {
	if !h.procs[p] {
		return
	}
	if p == Agent {
		w.stopAgent(h) // disarms only once the leader acknowledged
	}
	h.procs[p] = false
	w.event(h.Name, "%s stopped", p)
}

// StartProc starts a process. nova-compute first runs init_host.
func (w *World) StartProc(h *Host, p Proc) {
	if h.procs[p] || !h.On {
		return // running, or nothing runs without power
	}
	h.procs[p] = true
	h.starts[p]++
	if p == Agent {
		w.startAgent(h)
	}
	if p == NovaCompute {
		h.novaInit, h.novaReadyAt = true, w.now+initHostTime
	}
	w.event(h.Name, "%s started", p)
}

// Starting reports whether nova-compute is still in init_host on a powered
// host (perhaps waiting at the guest start gate): its guests are about to
// be resumed or destroyed, neither running nor lost yet.
func (h *Host) Starting() bool { return h.On && h.procs[NovaCompute] && h.novaInit }

// finishNovaInit ends init_host: guests whose instance Nova now places on
// another host are destroyed here (FIELD-NOTES: _destroy_evacuated_instances),
// guests Nova still places here are resumed, and the service joins again.
func (w *World) finishNovaInit(h *Host) {
	h.novaInit = false
	for _, id := range sortedKeys(h.Domains) {
		if inst := w.Nova.Instances[id]; inst == nil || inst.Host != h.Name {
			delete(h.Domains, id)
			w.endClient(h, id)
			w.event(h.Name, "nova-compute init_host destroyed evacuated guest %s", id)
		}
	}
	// An instance with an operation in flight (a rebuild, a live migration
	// that switched over) is not resumed: init_host sorts those out
	// without starting a second guest. One caught rebuilding or deleting
	// here is put in ERROR, as Nova's _init_instance does: an operator's.
	// A live migration that had not switched over is aborted and its task
	// state reset (_reset_live_migration), then its guest is resumed like
	// any other. (Real Nova resets a switched-over one too and would resume
	// a second copy next to the one on its destination; the simulator
	// leaves that one in flight for an operator instead.)
	for _, id := range w.Nova.order {
		inst := w.Nova.Instances[id]
		if inst.Host == h.Name && inst.Task == TaskMigrating && inst.switchedTo == "" {
			inst.Task = ""
			w.event(h.Name, "nova-compute init_host: live migration of %s interrupted, aborted, task_state reset", id)
		}
		if inst.Host == h.Name && !h.Domains[id] && (inst.Task == TaskRebuilding || inst.Task == TaskDeleting) {
			inst.VM, inst.Task = Errored, ""
			w.event(h.Name, "nova-compute init_host: %s was caught mid-operation, set to ERROR", id)
			continue
		}
		if inst.Host == h.Name && !h.Domains[id] && inst.VM == Active && inst.Task == "" {
			if !w.startGuest(h, inst) {
				continue
			}
			w.event(h.Name, "nova-compute resumed guest %s", id)
		}
	}
	w.Nova.migrationsDone(h.Name)
}

// startGuest starts inst's guest on h through the guest-start gate. A
// refused start fails libvirt's domain start, and Nova puts the instance in
// ERROR (init_host's _resume_guests_state, a hard reboot's failure alike).
func (w *World) startGuest(h *Host, inst *Instance) bool {
	if !w.mayStartGuests(h) {
		h.refused[inst.ID] = true
		inst.VM = Errored
		w.event(h.Name, "guest start of %s refused at the guest-start gate (no fresh grant, or the grant withholds guests): ERROR", inst.ID)
		return false
	}
	delete(h.refused, inst.ID)
	h.Domains[inst.ID] = true
	return true
}

// PowerOff cuts a host's power: every process and guest stops at once.
func (w *World) PowerOff(h *Host, why string) {
	if !h.On {
		return
	}
	h.On, h.Hung, h.UserHung, h.lateTouch = false, false, false, false
	h.agent, h.keeper, h.saved = nil, nil, agent.Saved{} // the process and its state end with the boot
	h.dev.Reset()
	for p := range h.procs {
		h.procs[p] = false
	}
	for id := range h.Domains {
		delete(h.Domains, id)
	}
	clear(h.refused) // the gate's log is per boot
	w.endClients(h)
	w.event(h.Name, "power off (%s)", why)
}

// ChassisOff is a BMC's power off: the host is off and stays off, even
// one that its watchdog was resetting (the reboot after the reset never
// comes).
func (w *World) ChassisOff(h *Host, why string) {
	w.PowerOff(h, why)
	h.bootAt = 0
}

// SetWatchdogMissing takes the host's watchdog device away (its module did
// not load after a kernel update) or gives it back: agent processes started
// from then on open none, or one. A device open now stays open.
func (w *World) SetWatchdogMissing(h *Host, missing bool) {
	h.noWatchdog = missing
	if missing {
		w.event(h.Name, "watchdog device missing from the next agent start on")
	} else {
		w.event(h.Name, "watchdog device present again from the next agent start on")
	}
}

// SetWatchdogLong makes the host's watchdog device round the timeout it is
// given up to twice that (long), or not, for devices armed from then on.
func (w *World) SetWatchdogLong(h *Host, long bool) {
	h.wdLong = long
	if long {
		w.event(h.Name, "watchdog device rounds its timeout up to twice the configured one, from the next agent start on")
	}
}

// SetAgentIsolationTimeout configures the host's agent with its own
// isolation timeout (0: the cluster's), from its next start on: an agent
// configured apart from the controllers. Its reports say it, and the
// leader does not count its watchdog; the grants it holds last no longer
// than the leader's own isolation timeout, which each grant carries.
func (w *World) SetAgentIsolationTimeout(h *Host, d time.Duration) {
	h.agentIso = d
	w.event(h.Name, "agent configured with isolation timeout %v from its next start on", d)
}

// SetAgentWatchdogTimeout configures the host's agent with its own
// watchdog timeout (0: the cluster's), from its next start on: an agent
// configured apart from the controllers. Its reports say the timeout its
// device was set to, and a process resuming a predecessor's grant with a
// longer one feeds less of it (agent.Contract.SetWatchdogTimeout).
func (w *World) SetAgentWatchdogTimeout(h *Host, d time.Duration) {
	h.agentWd = d
	w.event(h.Name, "agent configured with watchdog timeout %v from its next start on", d)
}

// PowerOn boots a host: a new boot id, the agent, libvirtd and nova-compute start.
func (w *World) PowerOn(h *Host, why string) {
	if h.On {
		return
	}
	h.On, h.Hung, h.UserHung = true, false, false
	h.Boot++
	w.event(h.Name, "power on (%s), boot %d", why, h.Boot)
	for _, p := range []Proc{Agent, Libvirtd, NovaCompute} {
		w.StartProc(h, p)
	}
}

// Cut takes a host's link on one network down (or up again).
func (w *World) Cut(h *Host, net string, down bool) {
	if h.cut[net] == down {
		return
	}
	h.cut[net] = down
	if down {
		w.event(h.Name, "%s link cut", net)
	} else {
		w.event(h.Name, "%s link restored", net)
	}
}

// Partition splits a network into groups; members not named join the
// largest group, and so do the controllers unless named. On the storage
// network Ceph reaches every group that names it, else the controllers'
// group (it is not counted in a group's size). nil heals it.
func (w *World) Partition(net string, groups [][]string) {
	storage := net == w.storageNet()
	if groups == nil {
		delete(w.groups, net)
		if storage {
			w.ceph.reaches = nil
		}
		w.event("", "%s partition healed", net)
		return
	}
	m := map[string]int{}
	largest, size := 0, -1
	for i, g := range groups {
		n := 0
		for _, member := range g {
			if member != Ceph {
				m[member] = i + 1
				n++
			}
		}
		if n > size {
			largest, size = i+1, n
		}
	}
	for _, h := range w.Hosts {
		if _, ok := m[h.Name]; !ok {
			m[h.Name] = largest
		}
	}
	if _, ok := m[Controllers]; !ok {
		m[Controllers] = largest
	}
	w.groups[net] = m
	if storage {
		w.partitionCeph(groups, m)
	}
	w.event("", "%s partitioned into %v", net, groups)
}

// SetBMC makes a host's BMC unreachable or reachable (and honest again).
func (w *World) SetBMC(h *Host, reachable bool) {
	h.BMCDown, h.BMCLies = !reachable, false
	if reachable {
		w.event(h.Name, "BMC reachable")
	} else {
		w.event(h.Name, "BMC unreachable")
	}
}

// LyingBMC makes a host's BMC acknowledge power off without doing it and
// read "off" from then on (firmware bugs, a BMC wired to the wrong host).
func (w *World) LyingBMC(h *Host) {
	h.BMCDown, h.BMCLies = false, true
	w.event(h.Name, "BMC starts lying: it will report power off while the host runs")
}

// Hang freezes a powered host: nothing on it answers or runs, guests included;
// the BMC still reads power on. Unhang lets everything continue where it was.
func (w *World) Hang(h *Host, hung bool) {
	if !h.On || h.Hung == hung {
		return
	}
	h.Hung = hung
	w.stallTouch(h, hung)
	if hung {
		w.event(h.Name, "kernel hang: nothing answers, power stays on")
	} else {
		w.event(h.Name, "hang cleared: host and its guests continue")
	}
}

// HangUserspace freezes a powered host's userspace: the agent, nova-compute,
// libvirtd and the guests stop, the kernel still answers ping. When it
// clears, everything continues where it was.
func (w *World) HangUserspace(h *Host, hung bool) {
	if !h.On || h.UserHung == hung {
		return
	}
	h.UserHung = hung
	w.stallTouch(h, hung)
	if hung {
		w.event(h.Name, "userspace hang: agent, services and guests stuck; the kernel still answers ping")
	} else {
		w.event(h.Name, "userspace hang cleared: agent, services and guests continue")
	}
}

// SlowBMC makes the host's BMC take d to act on and answer a power-off
// (0: prompt again).
func (w *World) SlowBMC(h *Host, d time.Duration) {
	h.BMCSlow = d
	w.event(h.Name, "BMC slow: a power-off takes %v", d)
}

// LateBMC makes the host's BMC acknowledge a power-off at once but cut the
// power d later (0: prompt again).
func (w *World) LateBMC(h *Host, d time.Duration) {
	h.BMCLate = d
	w.event(h.Name, "BMC late: it acknowledges a power-off at once and cuts the power %v later", d)
}
