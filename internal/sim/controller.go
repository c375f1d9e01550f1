package sim

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Policy is what the controller consults: vigil's decision.Engine, or the
// naive rule it is compared with. The real controller uses the same methods.
type Policy interface {
	AddHost(decision.HostInfo)
	Step(time.Time, decision.Input)
	Tick(time.Time) decision.Ready
	Restore([]decision.Record)
	Status() []decision.HostStatus
}

// Cadences of the controller's collectors (the real agent and controller use
// the same defaults).
const (
	tickEvery    = 250 * time.Millisecond
	bmcEvery     = 2 * time.Second
	novaEvery    = 5 * time.Second
	watchEvery   = 5 * time.Second
	watchLinger  = 30 * time.Second // FIELD-NOTES: a crashed client's watch stays ~30 s
	electionTime = 3 * time.Second  // etcd lease TTL 2 s + campaign
	peerFanout   = 3
)

// Entry is one line of the controller's log: a transition or an action.
type Entry struct {
	At     time.Duration
	Host   string
	Kind   string // "state" or "action"
	Text   string
	Detail string
}

// Violation is a broken invariant, found against the world's ground truth.
type Violation struct {
	At   time.Duration
	Host string
	What string
}

type op struct {
	at  time.Duration
	gen int
	fn  func(current bool)
}

// Controller is the simulated vigil controller (or the naive script).
type Controller struct {
	w         *World
	newPolicy func() Policy
	p         Policy
	gen       int
	downUntil time.Duration // leader dead until then; 0 when up
	store     map[string]decision.Record
	ops       []op

	maintenance map[string]bool
	confirmed   map[string]bool

	// Guarded: the executor re-reads the fence right before each Nova
	// evacuate call (vigil's executor does; the seed's script did not).
	Guarded bool

	Log        []Entry
	Alerts     []decision.Action
	Violations []Violation
	// FirstFailed, FirstFenced, FirstEvacuate are virtual times; -1 when never.
	FirstFailed, FirstFenced, FirstEvacuate time.Duration
	Fenced                                  map[string]bool
	Evacuated                               map[string]bool
}

// NewController attaches a controller running newPolicy() to w. It leads from t=0.
func NewController(w *World, newPolicy func() Policy) *Controller {
	c := &Controller{w: w, newPolicy: newPolicy, store: map[string]decision.Record{},
		maintenance: map[string]bool{}, confirmed: map[string]bool{},
		FirstFailed: -1, FirstFenced: -1, FirstEvacuate: -1, Fenced: map[string]bool{}, Evacuated: map[string]bool{}}
	c.elect()
	return c
}

func (c *Controller) at() time.Time { return Epoch.Add(c.w.now) }

func (c *Controller) elect() {
	c.gen++
	c.p = c.newPolicy()
	for _, h := range c.w.Hosts {
		c.p.AddHost(decision.HostInfo{Name: h.Name, Domain: h.Domain})
	}
	var recs []decision.Record
	for _, k := range sortedKeys(c.store) {
		recs = append(recs, c.store[k])
	}
	c.p.Restore(recs)
	for h, on := range c.maintenance {
		if on {
			c.p.Step(c.at(), decision.SetMaintenance{Host: h, On: true})
		}
	}
	c.p.Step(c.at(), decision.Leadership{Leader: true})
}

// KillLeader kills the leading controller; a standby leads after electionTime.
func (c *Controller) KillLeader() {
	c.downUntil = c.w.now + electionTime
	c.gen++ // results of the dead leader's actions are lost with it
	c.w.event("", "controller leader killed; a standby takes over in %v", electionTime)
}

// Operator commands.
func (c *Controller) Confirm(host string) {
	c.confirmed[host] = true
	c.step(decision.Confirm{Host: host, By: "operator"})
}

func (c *Controller) Release(host string) { c.step(decision.Release{Host: host, By: "operator"}) }

func (c *Controller) SetMaintenance(host string, on bool) {
	c.maintenance[host] = on
	c.step(decision.SetMaintenance{Host: host, On: on})
}

func (c *Controller) up() bool { return c.downUntil == 0 }

func (c *Controller) step(in decision.Input) {
	if c.up() {
		c.p.Step(c.at(), in)
	}
}

// Policy is the policy of the current leader.
func (c *Controller) Policy() Policy { return c.p }

// Status is the policy's view of every host.
func (c *Controller) Status() []decision.HostStatus { return c.p.Status() }

// advance runs the controller's part of one world step.
func (c *Controller) advance() {
	w := c.w
	if !c.up() {
		if w.now < c.downUntil {
			c.runOps()
			return
		}
		c.downUntil = 0
		c.elect()
		w.event("", "standby controller leads (restored %d incident records)", len(c.store))
	}
	c.collect()
	c.runOps()
	if w.now%tickEvery == 0 {
		c.apply(c.p.Tick(c.at()))
	}
}

// collect turns the world into observations, like the agents and collectors.
func (c *Controller) collect() {
	w := c.w
	now := c.at()
	for i, h := range w.Hosts {
		if (w.now+h.phase)%time.Second != 0 || !h.Running(Agent) {
			continue
		}
		self := decision.SelfReport{
			BootID:        fmt.Sprintf("%s-boot%d", h.Name, h.Boot),
			NovaCompute:   decision.Process{Running: h.procs[NovaCompute], Restarts: h.starts[NovaCompute]},
			Libvirtd:      decision.Process{Running: h.procs[Libvirtd], Restarts: h.starts[Libvirtd]},
			Domains:       sortedKeys(h.Domains),
			WatchdogArmed: h.armed,
		}
		relay := false
		for _, net := range w.cfg.Networks {
			if w.reachCtl(h, net) {
				relay = true
				c.p.Step(now, decision.AgentReport{Host: h.Name, Network: net, Self: self})
			}
		}
		if !relay {
			continue // the agent's peer reports cannot reach the controller
		}
		for k := 1; k <= peerFanout && k < len(w.Hosts); k++ {
			o := w.Hosts[(i+k)%len(w.Hosts)]
			for _, net := range w.cfg.Networks {
				c.p.Step(now, decision.PeerReport{Observer: h.Name, Host: o.Name, Network: net, Reachable: w.reach(h, o, net)})
			}
		}
	}
	if w.now%time.Second == 0 {
		read := decision.StorageHeartbeats{OK: !w.storageDown}
		if read.OK {
			read.Counters = make(map[string]uint64, len(w.Hosts))
			for _, h := range w.Hosts {
				read.Counters[h.Name] = h.heartbeat
			}
		}
		c.p.Step(now, read)
	}
	if w.now%bmcEvery == 0 {
		for _, h := range w.Hosts {
			p := decision.PowerOn
			switch {
			case h.BMCDown:
				p = decision.PowerUnreachable
			case !h.On || h.BMCLies:
				p = decision.PowerOff
			}
			c.p.Step(now, decision.BMCReading{Host: h.Name, Power: p})
		}
	}
	if w.now%watchEvery == 0 {
		// RBD watchers by host: a client's watch outlives it by ~30 s.
		for _, id := range sortedKeys(w.Disks) {
			d := w.Disks[id]
			var hosts []string
			for _, h := range sortedKeys(d.last) {
				if w.now-d.last[h] <= watchLinger {
					hosts = append(hosts, h)
				}
			}
			c.p.Step(now, decision.DiskWriters{Instance: id, Hosts: hosts})
		}
	}
	if w.now%novaEvery == 0 {
		for _, h := range w.Hosts {
			s := w.Nova.Services[h.Name]
			c.p.Step(now, decision.NovaService{Host: h.Name, Up: w.Nova.Up(h.Name), ForcedDown: s.ForcedDown,
				Disabled: s.Disabled, Instances: w.Nova.InstancesOn(h.Name)})
		}
	}
}

func (c *Controller) later(d time.Duration, fn func(current bool)) {
	c.ops = append(c.ops, op{at: c.w.now + d, gen: c.gen, fn: fn})
}

func (c *Controller) runOps() {
	sort.SliceStable(c.ops, func(i, j int) bool { return c.ops[i].at < c.ops[j].at })
	for len(c.ops) > 0 && c.ops[0].at <= c.w.now {
		o := c.ops[0]
		c.ops = c.ops[1:]
		o.fn(o.gen == c.gen && c.up())
	}
}

// apply persists records, logs transitions, and executes actions.
func (c *Controller) apply(r decision.Ready) {
	for _, rec := range r.Records {
		if rec.Phase == "" && rec.Failed.IsZero() {
			delete(c.store, rec.Host)
		} else {
			c.store[rec.Host] = rec // a closed record may still carry Failed, for the brake
		}
	}
	for _, t := range r.Transitions {
		c.Log = append(c.Log, Entry{At: c.w.now, Host: t.Host, Kind: "state",
			Text: fmt.Sprintf("%s → %s [%s]", t.From, t.To, t.Rule), Detail: strings.Join(t.Evidence, "; ")})
		if t.To == decision.Failed && c.FirstFailed < 0 {
			c.FirstFailed = c.w.now
		}
		if t.To == decision.Fenced {
			c.Fenced[t.Host] = true
			if c.FirstFenced < 0 {
				c.FirstFenced = c.w.now
			}
		}
	}
	for _, a := range r.Actions {
		c.Log = append(c.Log, Entry{At: c.w.now, Host: a.Host, Kind: "action", Text: a.String(), Detail: a.Reason})
		c.execute(a)
	}
}

func (c *Controller) violate(host, format string, args ...any) {
	c.Violations = append(c.Violations, Violation{At: c.w.now, Host: host, What: fmt.Sprintf(format, args...)})
	c.w.event(host, "INVARIANT BROKEN: "+format, args...)
}

func (c *Controller) execute(a decision.Action) {
	w := c.w
	h := w.Host(a.Host)
	if h == nil {
		return
	}
	if c.maintenance[a.Host] && a.Kind != decision.ActAlert {
		c.violate(a.Host, "%s sent for a host in maintenance", a.Kind)
	}
	switch a.Kind {
	case decision.ActAlert:
		c.Alerts = append(c.Alerts, a)
	case decision.ActFence:
		c.fence(h, a.Level)
	case decision.ActForceDown:
		_ = w.Nova.ForceDown(h.Name, true)
	case decision.ActReEnable:
		_ = w.Nova.ForceDown(h.Name, false)
	case decision.ActUnfence:
		w.Blocklist(h, false)
	case decision.ActEvacuate:
		if c.FirstEvacuate < 0 {
			c.FirstEvacuate = w.now
		}
		for _, id := range a.Instances {
			c.evacuate(h, id, a.Avoid, a.FenceMethod)
		}
	}
}

// fenceHolds is the executor's last check before it asks Nova to start a
// second copy: the fence device's status, read again (a BMC that cannot be
// read is not proof). An operator's confirmation and a watchdog reset have
// no device to read: the engine judged those.
func (c *Controller) fenceHolds(h *Host, method string) (bool, string) {
	switch {
	case method == "operator" || method == "watchdog":
		return true, ""
	case strings.Contains(method, "ceph-blocklist") && h.Blocklisted && !c.w.storageDown:
		return true, ""
	case strings.Contains(method, "ceph-blocklist") && !strings.Contains(method, "ipmi"):
		return false, "fence no longer holds: blocklist entries gone"
	case h.BMCDown:
		return false, "fence status unreadable: BMC unreachable"
	case h.On && !h.BMCLies:
		return false, "fence no longer holds: chassis power reads on"
	}
	return true, ""
}

// fenceTime is how long a device takes to act and be read back.
const fenceTime = 2 * time.Second

func (c *Controller) fence(h *Host, level int) {
	w := c.w
	kind := "?"
	if level >= 1 && level <= len(w.cfg.FenceLevels) {
		kind = w.cfg.FenceLevels[level-1]
	}
	res := decision.FenceResult{Host: h.Name, Level: level, Method: kind}
	// The executor's probe baseline goes out with the fence.
	answeredBefore := w.answersPing(h)
	c.later(time.Second, func(bool) {
		for _, dev := range strings.Split(kind, "+") {
			switch {
			case dev == "ipmi" && !h.BMCDown && !h.BMCLies:
				w.PowerOff(h, "fenced: ipmi chassis power off")
			case dev == "ceph-blocklist" && !w.storageDown:
				w.Blocklist(h, true)
			}
		}
	})
	c.later(fenceTime, func(current bool) {
		var proofs, errs []string
		power := false
		for _, dev := range strings.Split(kind, "+") {
			switch dev {
			case "ipmi":
				power = true
				switch {
				case h.BMCDown:
					errs = append(errs, "ipmi: BMC unreachable: no answer to chassis power off")
				case h.On && !h.BMCLies:
					errs = append(errs, "ipmi: chassis power still reads on")
				default:
					proofs = append(proofs, "ipmi: chassis power read back off")
				}
			case "ceph-blocklist":
				if w.storageDown {
					errs = append(errs, "ceph-blocklist: ceph monitors unreachable: blocklist not added")
				} else {
					proofs = append(proofs, "ceph-blocklist: entries listed for its storage addresses; its watchers are gone")
				}
			default:
				errs = append(errs, dev+": no such fence device")
			}
		}
		if power && len(errs) == 0 {
			switch {
			case answeredBefore && w.answersPing(h):
				errs = append(errs, "probe: the device reports the host fenced, but it still answers ping on the storage network")
			case answeredBefore:
				proofs = append(proofs, "probe: host no longer answers ping")
			default:
				proofs = append(proofs, "probe: inconclusive, the host did not answer before the fence either")
			}
		}
		if len(errs) > 0 {
			res.Err = strings.Join(errs, "; ")
		} else {
			res.OK, res.Proof = true, strings.Join(proofs, "; ")
		}
		if current {
			c.p.Step(c.at(), res)
		}
	})
}

// rebuildWait is how long the executor polls an evacuated instance for ACTIVE.
const rebuildWait = 30 * time.Second

func (c *Controller) evacuate(h *Host, id string, avoid []string, method string) {
	w := c.w
	source := h.Name
	c.later(200*time.Millisecond, func(current bool) {
		res := decision.EvacuateResult{Host: source, Instance: id}
		report := func() {
			if current {
				c.p.Step(c.at(), res)
			}
		}
		inst := w.Nova.Instances[id]
		if inst != nil && inst.Host != source {
			// Moved already (an action replayed after a failover): done
			// only once it runs there.
			res.Target = inst.Host
			if inst.State == Active {
				res.OK = true
			} else {
				res.Err = "already evacuated to " + inst.Host + ", state " + string(inst.State)
			}
			report()
			return
		}
		if ok, why := c.fenceHolds(h, method); c.Guarded && !ok {
			res.Err, res.FenceLost = why, true
			report()
			return
		}
		target := ""
		if len(avoid) > 0 {
			if target = w.Nova.PickHost(source, avoid); target == "" {
				res.Err = "no host outside " + strings.Join(avoid, ",") + " can take it"
				report()
				return
			}
		}
		// Ground truth: the guest still exists on a powered source that
		// can reach its disk. (A host the watchdog reset and rebooted runs
		// none of its old guests: that is not a second writer.)
		if h.On && h.Domains[id] && !h.Blocklisted && !c.confirmed[h.Name] {
			c.violate(h.Name, "Nova asked to evacuate %s while %s still runs it unfenced (guests %v)", id, h.Name, sortedKeys(h.Domains))
		}
		dest, err := w.Nova.Evacuate(id, target)
		if errors.Is(err, ErrBadState) && inst.State == Rebuilding {
			// Stuck rebuilding on this host, which is fenced: no copy can
			// run here, so reset it and evacuate again.
			w.Nova.ResetState(id)
			dest, err = w.Nova.Evacuate(id, target)
		}
		if err != nil {
			res.Err = err.Error()
			report()
			return
		}
		c.Evacuated[id] = true
		c.poll(inst, dest, res, w.now+rebuildWait)
	})
}

// Run advances world and controller until the virtual time end.
func Run(w *World, c *Controller, end time.Duration, faults func(now time.Duration)) {
	for w.now < end {
		w.advance()
		if faults != nil {
			faults(w.now)
		}
		c.advance()
	}
}

// poll waits for an evacuated instance to be ACTIVE on dest, as the real
// executor polls the Nova API, and reports the result.
func (c *Controller) poll(inst *Instance, dest string, res decision.EvacuateResult, deadline time.Duration) {
	c.later(500*time.Millisecond, func(current bool) {
		switch {
		case inst.State == Active && inst.Host == dest:
			res.OK, res.Target = true, dest
		case inst.State == Rebuilding && c.w.now < deadline:
			c.poll(inst, dest, res, deadline)
			return
		default:
			res.Err = "rebuild on " + dest + " not ACTIVE: " + string(inst.State)
		}
		if current {
			c.p.Step(c.at(), res)
		}
	})
}
