package sim

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/executor"
)

// Policy is what the controller consults: vigil's decision.Engine, or the
// naive rule it is compared with; the simulated controller runs it in the
// same loop as the real one (internal/controller).
type Policy = controller.Policy

// Cadences of the controller's collectors (the real agent and controller use
// the same defaults).
const (
	tickEvery    = 250 * time.Millisecond
	bmcEvery     = 250 * time.Millisecond // how often the BMC reads due are looked for
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
	// paused: the operator's vigil pause, once a leader took it (the
	// world's truth of the command, not the engine's view of it): while it
	// holds, no new incident may open (open ones carry on).
	paused bool

	maintenance map[string]bool
	confirmed   map[string]bool
	cancelled   map[string]bool          // host → cancel-fence received for its fence in flight
	bmcRead     map[string]time.Duration // host → when its BMC was last read, while its state calls for reads

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
		maintenance: map[string]bool{}, confirmed: map[string]bool{}, cancelled: map[string]bool{}, bmcRead: map[string]time.Duration{},
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

// Rejoin is vigil rejoin HOST: the operator lets a clean rejoining host back.
func (c *Controller) Rejoin(host string) { c.operator(decision.Rejoin{Host: host, By: "operator"}) }

// Pause is vigil pause (on) or vigil resume (off).
func (c *Controller) Pause(on bool) {
	c.operator(decision.SetPause{On: on, By: "operator", Reason: "scenario"})
}

func (c *Controller) SetMaintenance(host string, on bool) {
	c.maintenance[host] = on
	c.loop.Maintenance(host, on) // in force at the next election even if no leader takes it now
	c.operator(decision.SetMaintenance{Host: host, On: on})
}

func (c *Controller) operator(in decision.Input) {
	if c.up() && len(c.waiting) == 0 {
		c.take(in)
		return
	}
	c.waiting = append(c.waiting, in)
}

// take steps an operator's command on the leader.
func (c *Controller) take(in decision.Input) {
	err := c.loop.Step(c.at(), in)
	if p, ok := in.(decision.SetPause); ok && err == nil {
		c.paused = p.On
	}
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
			c.take(in)
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
		// The BMCs are read as the real controller reads them: a host's
		// by its state (executor.PowerEvery), checked every bmcEvery, the
		// first read as soon as the state calls for it.
		due := map[string]bool{}
		for _, s := range c.loop.Status() {
			every := executor.PowerEvery(s)
			last, read := c.bmcRead[s.Name]
			if every > 0 && (!read || w.now-last >= every) {
				due[s.Name] = true
			}
			if every == 0 {
				delete(c.bmcRead, s.Name)
			}
		}
		for _, h := range w.Hosts {
			if !due[h.Name] {
				continue
			}
			c.bmcRead[h.Name] = w.now
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
	c.checkPause(r)
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

// checkPause holds the engine to vigil pause: while the operator's pause
// is in force, no host outside an incident is fenced (a new incident
// opens by fencing, or by an operator's confirm, which is the operator's
// word and allowed); an incident already open carries on, and so does one
// that an operator's maintenance suspended: it resumes where it was when
// the host leaves maintenance ([maintenance-ended] is only ever a resumed
// incident: a host in maintenance with none goes back to judgement).
func (c *Controller) checkPause(r decision.Ready) {
	if !c.paused {
		return
	}
	for _, t := range r.Transitions {
		resumed := t.From == decision.Maintenance && t.Rule == "maintenance-ended"
		if (t.To == decision.Fencing || t.To == decision.Fenced) && !incidentState(t.From) && !resumed && t.Rule != "operator-confirmed" {
			c.violate(t.Host, "a new incident opened while vigil is paused: %s → %s [%s]", t.From, t.To, t.Rule)
		}
	}
}

// incidentState is the fence/recover workflow's states, as the world sees
// them: a host in one has an incident open.
func incidentState(s decision.State) bool {
	switch s {
	case decision.Fencing, decision.Fenced, decision.Recovering, decision.Recovered, decision.Rejoining:
		return true
	}
	return false
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
