package sim

import (
	"errors"
	"fmt"
	"time"
)

// InstanceState is a Nova vm_state, named by the server status the API shows
// for it when no task runs.
type InstanceState string

const (
	Active  InstanceState = "ACTIVE"
	Shutoff InstanceState = "SHUTOFF" // vm_state stopped
	Errored InstanceState = "ERROR"
)

// TaskState is a Nova task_state: an operation in flight ("" none). Nova
// refuses an evacuation of an instance with a task state (409,
// check_instance_state's default task_state=[None]).
type TaskState string

const (
	TaskRebuilding TaskState = "rebuilding" // an evacuation or a rebuild runs
	TaskMigrating  TaskState = "migrating"  // a live migration runs
	TaskDeleting   TaskState = "deleting"   // a delete runs
)

// Server statuses that a task state shows as (nova/api/openstack/common.py
// _STATE_MAP); a task state not listed leaves the vm_state's status.
const (
	StatusRebuild   = "REBUILD"
	StatusMigrating = "MIGRATING"
)

// rebuildTime is evacuate-call to ACTIVE on the target (FIELD-NOTES: 1.2–2.3 s
// measured with the fake driver).
const rebuildTime = 1500 * time.Millisecond

// Instance is one Nova server.
type Instance struct {
	ID       string
	Host     string
	VM       InstanceState
	Task     TaskState
	readyAt  time.Duration
	ActiveAt time.Duration // when it last became ACTIVE on its host
	// Evacuated counts evacuations accepted.
	Evacuated int
	// Stopped: its user stopped it (a scenario's instance: shutoff). Ground
	// truth: it must not run again unless its user starts it.
	Stopped bool
	// switchedTo: a live migration in flight (TaskMigrating) has switched
	// over; its guest runs there while Nova still places it on Host.
	switchedTo string
}

// Status is the server status the API shows.
func (i *Instance) Status() string {
	switch i.Task {
	case TaskRebuilding:
		return StatusRebuild
	case TaskMigrating:
		if i.VM == Active {
			return StatusMigrating
		}
	}
	return string(i.VM)
}

// Service is one nova-compute service record.
type Service struct {
	Host       string
	LastBeat   time.Duration
	ForcedDown bool
	Disabled   bool
}

// Migration is an evacuation record (accepted → done, or failed).
type Migration struct {
	Instance, Source, Dest string
	Status                 string
}

// Nova models the parts of the Nova API, conductor and scheduler that matter
// here.
type Nova struct {
	w          *World
	Services   map[string]*Service
	Instances  map[string]*Instance
	order      []string
	Migrations []*Migration
	wasUp      map[string]bool
	// capacity: host → instances it can hold (placement's allocations,
	// stopped and ERROR instances included); missing or 0 is unlimited.
	capacity map[string]int
	// rebuildFails: hosts where a rebuild fails now (the instance goes
	// ERROR there, as on a destination whose spawn fails).
	rebuildFails map[string]bool
}

// Errors the Nova model returns, like the API's 4xx answers.
var (
	ErrServiceUp   = errors.New("nova: 409 compute service of the source host is still in use (up and not forced down)")
	ErrNoHost      = errors.New("nova: no valid host was found")
	ErrBadState    = errors.New("nova: 409 instance state does not allow evacuate")
	ErrNoInstance  = errors.New("nova: 404 instance not found")
	ErrServiceDown = errors.New("nova: compute service unavailable")
)

func newNova(w *World) *Nova {
	n := &Nova{w: w, Services: map[string]*Service{}, Instances: map[string]*Instance{}, wasUp: map[string]bool{},
		capacity: w.cfg.Capacity, rebuildFails: map[string]bool{}}
	for _, h := range w.Hosts {
		n.Services[h.Name] = &Service{Host: h.Name}
		n.wasUp[h.Name] = true
	}
	return n
}

func (n *Nova) addInstance(id, host string) {
	n.Instances[id] = &Instance{ID: id, Host: host, VM: Active}
	n.order = append(n.order, id)
}

// Up is Nova's service liveness: a heartbeat within service_down_time.
func (n *Nova) Up(host string) bool {
	return n.w.now-n.Services[host].LastBeat <= n.w.cfg.ServiceDown
}

// InstancesOn lists the instances Nova places on host.
func (n *Nova) InstancesOn(host string) []string {
	var out []string
	for _, id := range n.order {
		if n.Instances[id].Host == host {
			out = append(out, id)
		}
	}
	return out
}

// HasRoom reports whether host can hold one more instance.
func (n *Nova) HasRoom(host string) bool { return n.hasRoom(host) }

func (n *Nova) hasRoom(host string) bool {
	c := n.capacity[host]
	return c <= 0 || len(n.InstancesOn(host)) < c
}

func (n *Nova) advance() {
	w := n.w
	for _, h := range w.Hosts {
		s := n.Services[h.Name]
		if h.Running(NovaCompute) && !h.novaInit && w.reachCtl(h, w.cfg.Networks[0]) &&
			(w.now+h.phase)%w.cfg.ReportInterval == 0 {
			s.LastBeat = w.now
		}
		if up := n.Up(h.Name); up != n.wasUp[h.Name] {
			n.wasUp[h.Name] = up
			state := "down"
			if up {
				state = "up"
			}
			w.event(h.Name, "nova: nova-compute service %s", state)
		}
	}
	for _, id := range n.order {
		inst := n.Instances[id]
		if inst.Task != TaskRebuilding || inst.readyAt == 0 || w.now < inst.readyAt {
			continue
		}
		dest := w.Host(inst.Host)
		if dest == nil || !dest.Running(NovaCompute) || dest.novaInit {
			continue // the rebuild waits in the destination's queue
		}
		n.rebuilt(inst, dest)
	}
}

// rebuilt ends an evacuation's rebuild on dest. A failed spawn leaves the
// instance in ERROR there (the compute manager errors it out; instance.host
// is the destination already). Otherwise it ends in the vm_state it had:
// before microversion 2.95 (the Zed test bed is 2.93) Nova keeps ACTIVE and
// stopped servers in their state, a stopped one by stopping it again right
// after the spawn (nova/compute/manager.py, "bringing vm to original
// state"); that short boot is not modelled as a disk write. An ERROR server
// is rebuilt ACTIVE.
func (n *Nova) rebuilt(inst *Instance, dest *Host) {
	w := n.w
	inst.Task, inst.readyAt = "", 0
	if n.rebuildFails[dest.Name] {
		inst.VM = Errored
		n.migrationsEnd(inst.ID, dest.Name, "failed")
		w.event(dest.Name, "nova: rebuild of %s failed on %s: ERROR there", inst.ID, dest.Name)
		return
	}
	if inst.VM == Shutoff {
		w.event(dest.Name, "nova: %s rebuilt and stopped again (SHUTOFF) after evacuation", inst.ID)
		return
	}
	inst.VM, inst.ActiveAt = Active, w.now
	dest.Domains[inst.ID] = true
	w.event(dest.Name, "nova: %s ACTIVE after evacuation", inst.ID)
}

// ForceDown sets or clears forced_down and disabled (force-down first, then
// disable: FIELD-NOTES).
func (n *Nova) ForceDown(host string, down bool) error {
	s := n.Services[host]
	if s == nil {
		return fmt.Errorf("nova: 404 no compute service on %s", host)
	}
	if s.ForcedDown != down {
		s.ForcedDown, s.Disabled = down, down
		n.w.event(host, "nova: forced_down=%v disabled=%v", down, down)
	}
	return nil
}

// Evacuate rebuilds an instance on another host: dest when given (Nova
// >= 2.29 validates it through the scheduler), else the scheduler's choice.
// Like Nova, it checks only the source service's state, never whether the
// guest still runs there. Nova accepts ACTIVE, stopped and ERROR servers
// with no task state. When no host fits, the conductor sets the instance to
// ERROR on its source (nova/conductor/manager.py rebuild_instance,
// NoValidHost: vm_state ERROR, task_state None): a stopped server's state is
// lost there.
func (n *Nova) Evacuate(id, dest string) (string, error) {
	inst := n.Instances[id]
	if inst == nil {
		return "", ErrNoInstance
	}
	src := n.Services[inst.Host]
	if n.Up(inst.Host) && !src.ForcedDown {
		return "", ErrServiceUp
	}
	if inst.Task != "" {
		return "", fmt.Errorf("%w: task_state %s", ErrBadState, inst.Task)
	}
	if dest == "" {
		dest = n.pickHost(inst.Host, nil)
	} else if s := n.Services[dest]; s == nil || dest == inst.Host || !n.Up(dest) || s.ForcedDown || s.Disabled || !n.hasRoom(dest) {
		dest = ""
	}
	if dest == "" {
		if inst.VM != Errored {
			n.w.event(inst.Host, "nova: no valid host for %s: set to ERROR (was %s)", id, inst.VM)
		}
		inst.VM = Errored
		return "", ErrNoHost
	}
	n.Migrations = append(n.Migrations, &Migration{Instance: id, Source: inst.Host, Dest: dest, Status: "accepted"})
	n.w.event(inst.Host, "nova: evacuation of %s to %s accepted", id, dest)
	inst.Host, inst.Task, inst.readyAt = dest, TaskRebuilding, n.w.now+rebuildTime
	inst.Evacuated++
	return dest, nil
}

// pickHost is the scheduler: the up, enabled host with room and the fewest
// instances, skipping exclude and avoid.
func (n *Nova) pickHost(exclude string, avoid map[string]bool) string {
	best, load := "", 0
	for _, h := range n.w.Hosts {
		s := n.Services[h.Name]
		if h.Name == exclude || avoid[h.Name] || !n.Up(h.Name) || s.ForcedDown || s.Disabled || !n.hasRoom(h.Name) {
			continue
		}
		if l := len(n.InstancesOn(h.Name)); best == "" || l < load {
			best, load = h.Name, l
		}
	}
	return best
}

// ResetState is os-resetState (to ERROR): an operator, or vigil's executor
// for an instance stuck rebuilding on a host that is now fenced, clears its
// task state. A stopped server becomes ERROR, and a later evacuation rebuilds
// it ACTIVE.
func (n *Nova) ResetState(id string) {
	if inst := n.Instances[id]; inst != nil && (inst.VM != Errored || inst.Task != "") {
		n.w.event(inst.Host, "nova: %s reset to ERROR (was %s)", id, inst.Status())
		inst.VM, inst.Task, inst.readyAt = Errored, "", 0
	}
}

// Stop is os-stop, as vigil's executor sends it to put an evacuated server
// back in the SHUTOFF state it had: it stops the guest on its host.
func (n *Nova) Stop(id string) error {
	inst := n.Instances[id]
	switch {
	case inst == nil:
		return ErrNoInstance
	case inst.VM != Active || inst.Task != "":
		return fmt.Errorf("%w: os-stop of %s (%s)", ErrBadState, id, inst.Status())
	}
	inst.VM = Shutoff
	if h := n.w.Host(inst.Host); h != nil && h.Domains[id] {
		delete(h.Domains, id)
		n.w.endClient(h, id)
	}
	n.w.event(inst.Host, "nova: %s stopped (SHUTOFF)", id)
	return nil
}

// Reboot is a hard reboot (os-reboot HARD), as vigil's executor sends it
// to start a guest its gate refused: Nova accepts ACTIVE and ERROR servers
// with no task state and starts the guest on the host it places them on,
// through that host's guest-start gate; the server ends ACTIVE, or ERROR
// again when the gate refuses.
func (n *Nova) Reboot(id string) error {
	inst := n.Instances[id]
	switch {
	case inst == nil:
		return ErrNoInstance
	case inst.Task != "" || (inst.VM != Active && inst.VM != Errored):
		return fmt.Errorf("%w: reboot of %s (%s)", ErrBadState, id, inst.Status())
	}
	h := n.w.Host(inst.Host)
	if h == nil || !h.Running(NovaCompute) || h.novaInit {
		return fmt.Errorf("%w: nova-compute on %s does not take the reboot now", ErrServiceDown, inst.Host)
	}
	if h.Domains[id] {
		return nil // running: a hard reboot restarts the same guest
	}
	if !n.w.startGuest(h, inst) {
		return fmt.Errorf("%w: guest start of %s refused on %s", ErrBadState, id, inst.Host)
	}
	inst.VM, inst.ActiveAt = Active, n.w.now
	n.w.event(inst.Host, "nova: %s hard-rebooted: its guest runs (ACTIVE)", id)
	return nil
}

// PickHost is the scheduler's choice for an instance of source, avoiding
// the given hosts; "" when none fits.
func (n *Nova) PickHost(source string, avoid []string) string {
	m := map[string]bool{}
	for _, a := range avoid {
		m[a] = true
	}
	return n.pickHost(source, m)
}

func (n *Nova) migrationsDone(source string) {
	for _, m := range n.Migrations {
		if m.Source == source && m.Status == "accepted" {
			m.Status = "done"
		}
	}
}

func (n *Nova) migrationsEnd(id, dest, status string) {
	for _, m := range n.Migrations {
		if m.Instance == id && m.Dest == dest && m.Status == "accepted" {
			m.Status = status
		}
	}
}
