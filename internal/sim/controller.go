package sim

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// Policy is what the controller consults: vigil's decision.Engine, or the
// naive rule it is compared with; the simulated controller runs it in the
// same loop as the real one (internal/controller).
type Policy = controller.Policy

// Cadences of the controller's collectors (the real agent and controller use
// the same defaults).
const (
	tickEvery    = 250 * time.Millisecond
	bmcEvery     = 2 * time.Second
	novaEvery    = 5 * time.Second
	watchEvery   = 5 * time.Second
	watchLinger  = 30 * time.Second // FIELD-NOTES: a crashed client's watch stays ~30 s
	leaseTTL     = 2 * time.Second  // the leader's etcd lease
	campaign     = 1 * time.Second  // a standby winning the election once the lease expired
	electionTime = leaseTTL + campaign
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
	// Safety: a promise about writers or fences was broken (an
	// evacuation of a running unfenced host, a reset counted that did
	// not happen, an action on a host in maintenance), not only one about
	// recovery.
	Safety bool
}

type op struct {
	at  time.Duration
	gen int
	fn  func(current bool)
}

// Controller is the simulated vigil controller (or the naive script).
type Controller struct {
	w         *World
	loop      *controller.Loop
	gen       int
	downUntil time.Duration // leader dead until then; 0 when up
	// stalledUntil: the leader is paused (SIGSTOP) until then, holding its
	// lease; zombieUntil: the leader lost etcd and acts until its lease
	// runs out then. 0 when not.
	stalledUntil, zombieUntil time.Duration
	term                      uint64 // terms so far: the fencing token of the current one
	store                     *journal
	ops                       []op
	waiting                   []decision.Input // operator commands no leader could take yet

	maintenance map[string]bool
	confirmed   map[string]bool
	cancelled   map[string]bool // host → cancel-fence received for its fence in flight

	// Guarded: the executor re-reads the fence right before each Nova
	// evacuate call (vigil's executor does; the seed's script did not).
	Guarded bool

	Log        []Entry
	Alerts     []decision.Action
	Violations []Violation
	// FirstFailed, FirstFenced, FirstEvacuate are virtual times; -1 when never.
	FirstFailed, FirstFenced, FirstEvacuate time.Duration
	Fenced                                  map[string]bool
	// LiveFenced counts fences whose device was told to act while the
	// host's agent ran and reached the controllers.
	LiveFenced int
	Evacuated  map[string]bool
}

// NewController attaches a controller running newPolicy() to w. It leads from t=0.
func NewController(w *World, newPolicy func() Policy) *Controller {
	c := &Controller{w: w,
		maintenance: map[string]bool{}, confirmed: map[string]bool{}, cancelled: map[string]bool{},
		FirstFailed: -1, FirstFenced: -1, FirstEvacuate: -1, Fenced: map[string]bool{}, Evacuated: map[string]bool{}}
	c.store = &journal{c: c, recs: map[string]decision.Record{}}
	var hosts []decision.HostInfo
	for _, h := range w.Hosts {
		hosts = append(hosts, decision.HostInfo{Name: h.Name, Domain: h.Domain})
	}
	c.loop = controller.New(newPolicy, hosts, c.store)
	w.ctl = c
	c.elect()
	return c
}

// at is the controllers' clock, which may run at its own rate.
func (c *Controller) at() time.Time {
	if r, ok := c.w.cfg.ClockRates[Controllers]; ok && r > 0 {
		return Epoch.Add(time.Duration(float64(c.w.now) * r))
	}
	return Epoch.Add(c.w.now)
}

// virtual is the world's time at which the controllers' clock read t.
func (c *Controller) virtual(t time.Time) time.Duration {
	d := t.Sub(Epoch)
	if r, ok := c.w.cfg.ClockRates[Controllers]; ok && r > 0 {
		d = time.Duration(float64(d) / r)
	}
	return d
}

func (c *Controller) elect() {
	c.gen++
	c.term++
	if _, err := c.loop.Lead(c.at(), c.term); err != nil {
		panic(err) // the simulated journal is always readable
	}
}

// journal is the simulated etcd journal: a leader that lost etcd cannot
// write it.
type journal struct {
	c    *Controller
	recs map[string]decision.Record
}

var errNoEtcd = errors.New("etcd unreachable")

func (j *journal) Records() ([]decision.Record, uint64, error) {
	var recs []decision.Record
	for _, k := range sortedKeys(j.recs) {
		recs = append(recs, j.recs[k])
	}
	return recs, 0, nil // the simulated store is never restored from a snapshot
}

func (j *journal) Write(recs []decision.Record, _ []decision.Action) error {
	if j.c.zombieUntil > 0 {
		return errNoEtcd
	}
	for _, rec := range recs {
		if controller.Empty(rec) {
			delete(j.recs, rec.Host)
		} else {
			j.recs[rec.Host] = rec // a closed record may still carry Failed (the brake) or an armed watchdog
		}
	}
	return nil
}

// KillLeader kills the leading controller; a standby leads after electionTime.
func (c *Controller) KillLeader() { c.depose(electionTime, "controller leader killed") }

// depose ends the leader's term; a standby leads after wait.
func (c *Controller) depose(wait time.Duration, why string) {
	c.downUntil = c.w.now + wait
	c.zombieUntil = 0 // a leader that lost etcd is gone with its term; the next one has etcd
	c.gen++           // results of the old leader's actions are lost with it
	c.loop.Depose()
	c.w.event("", "%s; a standby takes over in %v", why, wait)
}

// StallLeader pauses the leader (SIGSTOP, a stalled VM) for d. Past its
// lease TTL a standby is elected, and the old leader, resumed, finds its
// lease gone and never acts again: the same as a kill at the stall.
func (c *Controller) StallLeader(d time.Duration) {
	if d >= leaseTTL {
		c.depose(electionTime, fmt.Sprintf("controller leader stalled for %v, past its lease", d))
		return
	}
	c.stalledUntil = c.w.now + d
	c.w.event("", "controller leader stalled for %v (within its lease)", d)
}

// ZombieLeader cuts the leader off etcd: it goes on acting until its lease
// runs out, then stops, and a standby leads a campaign later.
func (c *Controller) ZombieLeader() {
	if c.zombieUntil == 0 && c.up() {
		c.zombieUntil = c.w.now + leaseTTL
		c.w.event("", "controller leader lost etcd; it acts until its lease runs out in %v", leaseTTL)
	}
}

// Operator commands.
// An operator's command to a leader that cannot take it now (paused,
// dead, being elected) waits, as the API request does, until a leader
// serves it: it is never silently lost.
func (c *Controller) Confirm(host string) {
	c.confirmed[host] = true
	c.operator(decision.Confirm{Host: host, By: "operator"})
}

func (c *Controller) Release(host string) { c.operator(decision.Release{Host: host, By: "operator"}) }

func (c *Controller) SetMaintenance(host string, on bool) {
	c.maintenance[host] = on
	c.loop.Maintenance(host, on) // in force at the next election even if no leader takes it now
	c.operator(decision.SetMaintenance{Host: host, On: on})
}

func (c *Controller) operator(in decision.Input) {
	if c.up() && len(c.waiting) == 0 {
		c.loop.Step(c.at(), in)
		return
	}
	c.waiting = append(c.waiting, in)
}

func (c *Controller) up() bool { return c.downUntil == 0 && c.stalledUntil == 0 }

func (c *Controller) step(in decision.Input) {
	if c.up() {
		c.loop.Step(c.at(), in)
	}
}

// Policy is the policy of the current leader.
func (c *Controller) Policy() Policy { return c.loop.Policy() }

// Status is the policy's view of every host.
func (c *Controller) Status() []decision.HostStatus { return c.loop.Status() }

// advance runs the controller's part of one world step.
func (c *Controller) advance() {
	w := c.w
	if c.stalledUntil > 0 {
		if w.now < c.stalledUntil {
			return // a paused process does nothing, not even its timers
		}
		c.stalledUntil = 0
		w.event("", "controller leader resumes")
	}
	if c.zombieUntil > 0 && w.now >= c.zombieUntil {
		// Its own view of the lease ran out (it counts the lease from the
		// keepalive it sent, so never later than etcd): it stops acting.
		c.zombieUntil = 0
		c.depose(campaign, "the leader's lease ran out without etcd: it stops acting")
	}
	if c.up() && len(c.waiting) > 0 {
		for _, in := range c.waiting {
			c.loop.Step(c.at(), in)
		}
		c.waiting = nil
	}
	if !c.up() {
		if w.now < c.downUntil {
			c.runOps()
			return
		}
		c.downUntil = 0
		c.elect()
		w.event("", "standby controller leads (restored %d incident records)", len(c.store.recs))
	}
	c.collect()
	c.runOps()
	if w.now%tickEvery == 0 {
		r, _ := c.loop.Tick(c.at()) // a failed write leaves only alerts to act on
		c.apply(r)
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
		self := h.agent.Report(w.clock(h), decision.SelfReport{
			NovaCompute: decision.Process{Running: h.procs[NovaCompute], Restarts: h.starts[NovaCompute]},
			Libvirtd:    decision.Process{Running: h.procs[Libvirtd], Restarts: h.starts[Libvirtd]},
			Domains:     sortedKeys(h.Domains),
			Refused:     sortedKeys(h.refused),
		})
		r := w.route(h, i)
		if r.ok() {
			c.report(h, r, self)
		}
		if len(r.direct) == 0 {
			continue // the agent's peer reports cannot reach the controller
		}
		for k := 1; k <= peerFanout && k < len(w.Hosts); k++ {
			o := w.Hosts[(i+k)%len(w.Hosts)]
			for _, net := range w.cfg.Networks {
				c.loop.Step(now, decision.PeerReport{Observer: h.Name, Host: o.Name, Network: net, Reachable: w.peerProbe(h, o, net)})
			}
		}
	}
	// The heartbeat and watcher reads go from the controllers to Ceph.
	if w.now%time.Second == 0 {
		read := decision.StorageHeartbeats{OK: w.CtlReachesCeph()}
		if read.OK {
			read.Counters = make(map[string]uint64, len(w.Hosts))
			read.Boots = make(map[string]decision.StorageBoot, len(w.Hosts))
			for _, h := range w.Hosts {
				read.Counters[h.Name] = h.heartbeat
				if h.beat.BootID != "" {
					read.Boots[h.Name] = h.beat
				}
			}
		}
		c.loop.Step(now, read)
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
			c.loop.Step(now, decision.BMCReading{Host: h.Name, Power: p})
		}
	}
	if w.now%watchEvery == 0 && w.CtlReachesCeph() {
		// RBD watchers by host: a client's watch outlives it by ~30 s.
		for _, id := range sortedKeys(w.Disks) {
			d := w.Disks[id]
			var hosts []string
			for _, h := range sortedKeys(d.last) {
				if w.now-d.last[h] <= watchLinger {
					hosts = append(hosts, h)
				}
			}
			c.loop.Step(now, decision.DiskWriters{Instance: id, Hosts: hosts})
		}
	}
	if w.now%novaEvery == 0 {
		for _, h := range w.Hosts {
			s := w.Nova.Services[h.Name]
			on := w.Nova.InstancesOn(h.Name)
			status := make(map[string]string, len(on))
			for _, id := range on {
				status[id] = w.Nova.Instances[id].Status()
			}
			c.loop.Step(now, decision.NovaService{Host: h.Name, Up: w.Nova.Up(h.Name), ForcedDown: s.ForcedDown,
				Disabled: s.Disabled, Instances: on, Status: status})
		}
	}
}

func (c *Controller) later(d time.Duration, fn func(current bool)) {
	c.ops = append(c.ops, op{at: c.w.now + d, gen: c.gen, fn: fn})
}

// laterGen runs fn after d if the leader that scheduled it (gen) still
// leads; the world changes it makes (a device acting) happen regardless.
func (c *Controller) laterGen(gen int, d time.Duration, fn func()) {
	c.ops = append(c.ops, op{at: c.w.now + d, gen: gen, fn: func(bool) { fn() }})
}

func (c *Controller) runOps() {
	sort.SliceStable(c.ops, func(i, j int) bool { return c.ops[i].at < c.ops[j].at })
	for len(c.ops) > 0 && c.ops[0].at <= c.w.now {
		o := c.ops[0]
		c.ops = c.ops[1:]
		o.fn(o.gen == c.gen && c.up())
	}
}

// apply carries out a Ready the loop has journaled: acks, log, actions.
func (c *Controller) apply(r decision.Ready) {
	for _, a := range r.Acks {
		if h := c.w.Host(a.Host); h != nil {
			a := a
			c.after(c.w.cfg.MessageDelay, func() { c.w.ack(h, a) })
		}
	}
	c.checkConclusions(r)
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
	c.Violations = append(c.Violations, Violation{At: c.w.now, Host: host, What: fmt.Sprintf(format, args...), Safety: true})
	c.w.event(host, "INVARIANT BROKEN: "+format, args...)
}

func (c *Controller) execute(a decision.Action) {
	w := c.w
	h := w.Host(a.Host)
	if h == nil {
		return
	}
	if c.maintenance[a.Host] && a.Kind != decision.ActAlert && a.Kind != decision.ActRenewFence {
		// (A renewal keeps an incident's fence in force through
		// maintenance: it touches Ceph, not the host.)
		c.violate(a.Host, "%s sent for a host in maintenance", a.Kind)
	}
	switch a.Kind {
	case decision.ActAlert:
		c.Alerts = append(c.Alerts, a)
	case decision.ActFence:
		since := time.Duration(-1)
		if !a.Since.IsZero() {
			since = c.virtual(a.Since)
		}
		c.fence(h, a.Level, a.ProbeAborts, since)
	case decision.ActCancelFence:
		c.cancelled[h.Name] = true
	case decision.ActForceDown:
		_ = w.Nova.ForceDown(h.Name, true)
	case decision.ActReEnable:
		_ = w.Nova.ForceDown(h.Name, false)
	case decision.ActRestart:
		for _, id := range a.Instances {
			if inst := w.Nova.Instances[id]; inst != nil && inst.Host != h.Name {
				continue // Nova places it elsewhere now: not this host's to start
			}
			if err := w.Nova.Reboot(id); err != nil {
				w.event(h.Name, "restart of %s failed: %v", id, err)
			}
		}
	case decision.ActUnfence:
		if w.CtlReachesCeph() {
			since := time.Duration(-1)
			if !a.Since.IsZero() {
				since = c.virtual(a.Since)
			}
			w.BlocklistRemove(h, blocklistRecords(a.Records), since, w.cfg.BlocklistExpire)
			c.step(decision.UnfenceResult{Host: h.Name, OK: true})
		} else {
			w.event(h.Name, "unfence failed: ceph monitors unreachable from the controllers; the blocklist entries stay")
			c.step(decision.UnfenceResult{Host: h.Name, Err: "ceph monitors unreachable"})
		}
	case decision.ActRenewFence:
		switch {
		case !w.CtlReachesCeph():
			w.event(h.Name, "fence renewal failed: ceph monitors unreachable from the controllers")
			c.step(decision.RenewResult{Host: h.Name, Err: "ceph monitors unreachable"})
		default:
			lapsed, added := w.BlocklistRenew(h, w.cfg.BlocklistExpire, blocklistRecords(a.Records))
			if !lapsed {
				c.step(decision.RenewResult{Host: h.Name, OK: true})
				break
			}
			// The entries re-added are vigil's: the records after the
			// renewal are the old ones and this one.
			recs := append(slices.Clone(a.Records), marshalRecord(added))
			c.step(decision.RenewResult{Host: h.Name, OK: true, Lapsed: true, Err: "the host's entry was gone", Records: recs})
		}
	case decision.ActEvacuate:
		if c.FirstEvacuate < 0 {
			c.FirstEvacuate = w.now
		}
		for _, id := range a.Instances {
			c.evacuate(h, id, a.Avoid, a.FenceMethod, slices.Contains(a.Stopped, id))
		}
	}
}

// fenceRead is what the executor's last look at a fence found.
type fenceRead int

const (
	fenceHeld       fenceRead = iota // read, and it holds (or nothing to read)
	fenceLifted                      // read, and it no longer holds
	fenceUnreadable                  // could not be read: proves nothing either way
)

// readFence is the executor's last check before it asks Nova to start a
// second copy: the fence device's status, read again. A device that reads
// its fence in place is enough; every device reading it gone means lifted;
// otherwise (a BMC or the Ceph monitors not answering) it cannot be told.
// An operator's confirmation, a watchdog reset and a reboot have no device
// to read: the engine judged those (decision.JudgedFence).
func (c *Controller) readFence(h *Host, method string) (fenceRead, string) {
	if decision.JudgedFence(method) {
		return fenceHeld, ""
	}
	var lifted, unread []string
	for _, dev := range strings.Split(method, "+") {
		switch {
		case dev == "ceph-blocklist" && !c.w.CtlReachesCeph():
			unread = append(unread, "ceph monitors unreachable from the controllers")
		case dev == "ceph-blocklist" && !c.w.Blocklisted(h):
			lifted = append(lifted, "blocklist entries gone")
		case dev == "ipmi" && h.BMCDown:
			unread = append(unread, "BMC unreachable")
		case dev == "ipmi" && h.On && !h.BMCLies:
			lifted = append(lifted, "chassis power reads on")
		case dev == "ipmi" || dev == "ceph-blocklist":
			return fenceHeld, ""
		default:
			unread = append(unread, dev+": no such fence device")
		}
	}
	if len(unread) > 0 {
		return fenceUnreadable, "fence status unreadable: " + strings.Join(append(unread, lifted...), "; ")
	}
	return fenceLifted, "fence no longer holds: " + strings.Join(lifted, "; ")
}

// fenceTime is how long a device takes to act and be read back: it acts
// after fenceAct (session, authentication), is read back a second later.
const (
	fenceTime = 2 * time.Second
	fenceAct  = time.Second
)

// fence carries out a fence of level; since is when its incident opened
// (what the ceph-blocklist device claims as an earlier add of its own).
func (c *Controller) fence(h *Host, level int, probeAborts bool, since time.Duration) {
	w := c.w
	kind := "?"
	if level >= 1 && level <= len(w.cfg.FenceLevels) {
		kind = w.cfg.FenceLevels[level-1]
	}
	res := decision.FenceResult{Host: h.Name, Level: level, Method: kind}
	gen := c.gen
	report := func() {
		if gen == c.gen && c.up() {
			c.loop.Step(c.at(), res)
		}
	}
	power := strings.Contains(kind, "ipmi")
	// The executor's probe baseline goes out with the fence.
	answeredBefore := w.answersPing(h)
	c.cancelled[h.Name] = false
	c.laterGen(gen, fenceAct, func() {
		// The last moment before any device acts: a cancel from the
		// engine, or the host answering the probe, stops the fence here.
		switch {
		case c.cancelled[h.Name]:
			res.Aborted, res.Err = decision.AbortCancelled, "before the power-off"
		case power && probeAborts && w.answersAnyPing(h):
			res.Aborted, res.Err = decision.AbortHostAnswers, "ping on the storage network, right before the power-off"
		}
		if res.Aborted != decision.NotAborted {
			w.event(h.Name, "fence stopped before the power-off (%s)", res.Aborted)
			report()
			return
		}
		if w.agentLive(h) {
			// Ground truth, counted but not an invariant: some are
			// unpreventable (a hang clearing in the very instant of the
			// power-off, before any report could leave).
			c.LiveFenced++
			w.event(h.Name, "fence goes out while its agent runs and reaches the controllers")
		}
		slow := time.Duration(0)
		for _, dev := range strings.Split(kind, "+") {
			switch {
			case dev == "ipmi" && !h.BMCDown && !h.BMCLies:
				slow = h.BMCSlow
				c.laterGen(gen, max(h.BMCSlow, h.BMCLate), func() { w.ChassisOff(h, "fenced: ipmi chassis power off") })
			case dev == "ceph-blocklist" && w.CtlReachesCeph():
				res.Records = append(res.Records, marshalRecord(w.BlocklistAdd(h, w.cfg.BlocklistExpire, since)))
			}
		}
		c.laterGen(gen, slow+fenceTime-fenceAct, func() {
			c.verify(h, kind, answeredBefore, &res)
			report()
		})
	})
}

// verify reads every device of the level back, and the probe.
func (c *Controller) verify(h *Host, kind string, answeredBefore bool, res *decision.FenceResult) {
	w := c.w
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
			switch {
			case !w.CtlReachesCeph():
				errs = append(errs, "ceph-blocklist: ceph monitors unreachable from the controllers: blocklist not added or not readable")
			case !w.Blocklisted(h):
				errs = append(errs, "ceph-blocklist: the entry for its storage IP is not listed")
			default:
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
}

// rebuildWait is how long the executor polls an evacuated instance for ACTIVE.
const rebuildWait = 30 * time.Second

// evacuate carries out one instance of an Evacuate action; stopped: vigil
// saw it SHUTOFF, and it must end SHUTOFF on its target.
func (c *Controller) evacuate(h *Host, id string, avoid []string, method string, stopped bool) {
	w := c.w
	source := h.Name
	gen := c.gen // the leader whose executor this is: its polls die with it
	c.later(200*time.Millisecond, func(current bool) {
		res := decision.EvacuateResult{Host: source, Instance: id}
		inst := w.Nova.Instances[id]
		report := func() {
			if inst != nil {
				res.Placed, res.Status = inst.Host, inst.Status()
			}
			if current {
				c.loop.Step(c.at(), res)
			}
		}
		if inst != nil && inst.Host != source {
			// Moved already (an action replayed after a failover): done
			// only once it is rebuilt there, running or stopped.
			res.Target, res.Accepted = inst.Host, true
			if inst.Task == "" && (inst.VM == Active || inst.VM == Shutoff) {
				res.OK = true
			} else {
				res.Err = "already evacuated to " + inst.Host + ", state " + inst.Status()
			}
			report()
			return
		}
		if st, why := c.readFence(h, method); c.Guarded && st != fenceHeld {
			res.Err, res.FenceLost, res.FenceUnreadable = why, st == fenceLifted, st == fenceUnreadable
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
		// The call is on its way: Nova accepts it EvacuateLatency after the
		// re-read, whether or not this leader is still alive to hear back.
		if gap := w.cfg.EvacuateLatency; gap > 0 {
			c.later(gap, func(bool) { c.novaEvacuate(h, inst, target, res, stopped, current && gen == c.gen && c.up(), gen) })
			return
		}
		c.novaEvacuate(h, inst, target, res, stopped, current, gen)
	})
}

// novaEvacuate is Nova accepting (or refusing) the evacuate call.
// gen is the leader that sent it: only its executor polls the rebuild.
func (c *Controller) novaEvacuate(h *Host, inst *Instance, target string, res decision.EvacuateResult, stopped, current bool, gen int) {
	w := c.w
	id := res.Instance
	// Ground truth, when Nova accepts: the guest still exists on a powered
	// source and its Ceph client is not blocklisted (a host the watchdog
	// reset and rebooted runs none of its old guests: that is not a second
	// writer).
	if h.On && h.Domains[id] && !w.blocked(w.client(h, id)) && !c.confirmed[h.Name] {
		c.violate(h.Name, "Nova asked to evacuate %s while %s still runs it unfenced (guests %v)", id, h.Name, sortedKeys(h.Domains))
	}
	// A stopped server stays stopped through an evacuation (Nova before
	// 2.95 stops it again after the rebuild), unless its state was lost
	// first (reset, or ERROR after no valid host): then Nova rebuilds it
	// ACTIVE, and the executor stops it again.
	stop := stopped || (inst != nil && inst.VM == Shutoff)
	dest, err := w.Nova.Evacuate(id, target)
	if errors.Is(err, ErrBadState) && inst.Task == TaskRebuilding {
		// Stuck rebuilding on this host, which is fenced: no copy can
		// run here, so reset it and evacuate again. Any other task state
		// (a live migration may have switched over and run the guest on
		// its destination already) is left to an operator.
		w.Nova.ResetState(id)
		dest, err = w.Nova.Evacuate(id, target)
	}
	if err != nil {
		res.Err = err.Error()
		if inst != nil {
			res.Placed, res.Status = inst.Host, inst.Status()
		}
		if current {
			c.loop.Step(c.at(), res)
		}
		return
	}
	c.Evacuated[id] = true
	res.Accepted = true
	c.poll(gen, inst, dest, res, stop, w.now+rebuildWait)
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

// poll waits for an evacuated instance to be rebuilt on dest, ACTIVE or
// (stop) SHUTOFF, as the real executor polls the Nova API, and reports the
// result. An instance that must end stopped and came up ACTIVE is stopped
// (os-stop) before it counts as done.
//
// The poll is the executor of leader gen: it dies with that leader (found
// by attack13: a dead leader's rebuild results reached its successor, which
// learnt through them what a real successor never hears).
func (c *Controller) poll(gen int, inst *Instance, dest string, res decision.EvacuateResult, stop bool, deadline time.Duration) {
	c.ops = append(c.ops, op{at: c.w.now + 500*time.Millisecond, gen: gen, fn: func(current bool) {
		if !current {
			return
		}
		rebuilt := inst.Host == dest && inst.Task == ""
		switch {
		case rebuilt && inst.VM == Active && stop:
			if err := c.w.Nova.Stop(inst.ID); err != nil {
				res.Err = "rebuilt ACTIVE on " + dest + ", os-stop failed: " + err.Error()
				break
			}
			res.OK, res.Target = true, dest
		case rebuilt && (inst.VM == Active || inst.VM == Shutoff):
			res.OK, res.Target = true, dest
		case inst.Task == TaskRebuilding && inst.Host == dest && c.w.now < deadline:
			c.poll(gen, inst, dest, res, stop, deadline)
			return
		case inst.Host != dest:
			res.Err = "Nova moved it on from " + dest + " to " + inst.Host + ", state " + inst.Status()
		default:
			res.Err = "rebuild on " + dest + " not ACTIVE: " + inst.Status()
		}
		res.Placed, res.Status = inst.Host, inst.Status()
		c.loop.Step(c.at(), res)
	}})
}

// checkConclusions holds the engine to the watchdog contract at the moment
// it concludes, not only when Nova is called: a host counted as fenced by
// its watchdog or by a reboot must not still run the boot the fence names
// (an operator's confirm is the operator's word).
func (c *Controller) checkConclusions(r decision.Ready) {
	for _, t := range r.Transitions {
		if t.To != decision.Fenced {
			continue
		}
		h := c.w.Host(t.Host)
		for _, st := range c.loop.Status() {
			if st.Name != t.Host || st.Fence == nil || !decision.JudgedFence(st.Fence.Method) || st.Fence.Method == "operator" {
				continue
			}
			if h.On && bootID(h) == st.Fence.BootID {
				c.violate(h.Name, "counted as reset by its %s while boot %s still runs (guests %v)", st.Fence.Method, st.Fence.BootID, sortedKeys(h.Domains))
			}
		}
	}
}
