package decision

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInvariants drives the engine with long random input sequences: a small
// cluster whose hosts live, lose their agent, lose a network, die and come
// back; a fake executor that answers fences and evacuations late and often
// badly; noise inputs of every kind; operators confirming, releasing and
// toggling maintenance; leadership changes and failovers restored from the
// persisted records. After every Tick it checks vigil's promises against what
// the test itself fed in, never against the engine's internals:
//
//	(a) no evacuate for a host unless, since its current incident opened, a
//	    FenceResult{OK} or a Confirm was stepped for it (or, with
//	    SelfFenceAfter, the last report any engine granted armed a watchdog,
//	    no clean stop was acknowledged since, that long has passed since
//	    that grant and since this engine leads, and a fence attempt failed);
//	(b) no action but alerts for a host while it is in maintenance;
//	(c) no fence for a host whose agent reported on every network within
//	    AgentTimeout, unless it has been silent on every network for half
//	    that and a BMC reading of off was stepped after its last report
//	    (the fast path of a power loss: two signals agree);
//	(d) every transition carries a rule and non-empty evidence;
//	(e) no unfence or re-enable for a host whose last agent report lists a
//	    guest that was evacuated from it (EvacuateResult{OK}) in the current
//	    incident: that would be two writers on one disk;
//	(f) with the manual rejoin policy, no rejoin (clean-rejoin) of a host
//	    unless a Rejoin was stepped for it since it last became rejoining.
//
// Sequences are deterministic per seed; a failure prints the seed and the
// inputs that led to it.
func TestInvariants(t *testing.T) {
	seqs, rounds := 500, 400
	if testing.Short() {
		seqs = 100
	}
	var cov coverage
	for seed := int64(1); seed <= int64(seqs); seed++ {
		w := newWorld(seed)
		for r := 0; r < rounds; r++ {
			if err := w.round(); err != nil {
				t.Fatalf("seed %d, round %d, t=%v: %v\nconfig: %+v\nstory of %s:\n%s",
					seed, r, w.now.Sub(epoch), err, w.cfg, err.host, w.trace(err.host))
			}
		}
		cov.add(w.cov)
	}
	t.Logf("coverage over %d sequences: %+v", seqs, cov)
	// A property test that never reaches the interesting states proves
	// nothing: insist that every guarded path was exercised.
	for name, n := range map[string]int{
		"fences": cov.fences, "evacuations": cov.evacuations, "confirmed evacuations": cov.confirmed,
		"self-fenced evacuations": cov.selfFenced, "aborted fences": cov.aborted,
		"clean rejoins": cov.rejoins, "brake holds": cov.brake, "observer-blind holds": cov.blind,
		"restored incidents": cov.restored, "maintenance ticks": cov.maintTicks,
		"fences withheld from answering hosts": cov.answeringFailed,
		"unreadable fences held":               cov.unreadable, "confirms after fencing": cov.lateConfirms,
		"rejoins an operator let through": cov.operatorRejoins, "rejoins an operator asked for too early": cov.refusedRejoins,
	} {
		if n == 0 {
			t.Errorf("no %s in %d sequences: the generator does not reach that path", name, seqs)
		}
	}
}

// violation is a broken invariant, and the host whose story explains it.
type violation struct{ host, msg string }

func (v *violation) Error() string { return v.msg }

func violate(host, format string, args ...any) *violation {
	return &violation{host, fmt.Sprintf(format, args...)}
}

type coverage struct {
	fences, evacuations, confirmed, selfFenced, aborted, rejoins int
	operatorRejoins, refusedRejoins                              int
	brake, blind, restored, maintTicks, answeringFailed          int
	unreadable, lateConfirms, resumed                            int
}

func (c *coverage) add(o coverage) {
	c.fences += o.fences
	c.evacuations += o.evacuations
	c.confirmed += o.confirmed
	c.selfFenced += o.selfFenced
	c.aborted += o.aborted
	c.rejoins += o.rejoins
	c.operatorRejoins += o.operatorRejoins
	c.refusedRejoins += o.refusedRejoins
	c.brake += o.brake
	c.blind += o.blind
	c.restored += o.restored
	c.maintTicks += o.maintTicks
	c.answeringFailed += o.answeringFailed
	c.unreadable += o.unreadable
	c.lateConfirms += o.lateConfirms
	c.resumed += o.resumed
}

// mode is what a simulated host is really doing.
type mode int

const (
	alive     mode = iota // everything answers
	agentDown             // agent crashed: peers reach it, heartbeat stalls
	partial               // one network lost
	dead                  // nothing answers
)

func (m mode) String() string {
	return [...]string{"alive", "agent-down", "partial", "dead"}[m]
}

type pendingFence struct {
	host  string
	level int
	due   time.Time
}

type pendingEvac struct {
	host, instance string
	due            time.Time
}

// track is what the test knows about one host's incident, from its own
// inputs and from the transitions the engine reported.
type track struct {
	open       bool
	openAt     time.Time
	authorized bool      // an evacuation was already justified in this incident
	authAt     time.Time // last FenceResult{OK} or Confirm stepped
	failAt     time.Time // last FenceResult{OK: false} stepped
	fails      int       // failed fence results since it opened or was restored
	restored   bool      // the current engine got this incident from Restore
	evacuated  []string  // EvacuateResult{OK} stepped since it opened
	selfFence  bool      // the self-fence conditions held at some Tick
	// rejoiningAt: the engine last moved the host into rejoining from
	// another state; rejoinAt: a Rejoin was last stepped for it.
	rejoiningAt, rejoinAt time.Time
}

type world struct {
	rng   *rand.Rand
	cfg   Config
	e     *Engine
	now   time.Time
	hosts []string
	info  []HostInfo

	mode    map[string]mode
	self    map[string]SelfReport
	insts   map[string][]string // guests each host started with
	nova    map[string][]string // where Nova places each guest now
	counter map[string]uint64
	fences  []pendingFence
	evacs   []pendingEvac
	maint   map[string]bool
	leader  bool
	store   map[string]Record

	// What this engine instance has been told (reset on failover).
	agentAt map[string][]time.Time
	// When a BMC reading of off was last stepped for each host (any other
	// reading clears it).
	bmcOffAt map[string]time.Time
	// What any engine has been told.
	lastAgent map[string]time.Time
	lastSelf  map[string]SelfReport
	tr        map[string]*track
	// The watchdog contract: the last grant any engine issued to each host,
	// whether that report armed a watchdog, and when this leader started.
	grantAt     map[string]time.Time
	grantArmed  map[string]bool // the truth: the current agent's watchdog is armed
	leaderSince time.Time
	// The agents' messages: each host's recent reports (replayed late, as
	// other networks and relays deliver them), the stop notice the running
	// agent waits to have acknowledged, and whether the host has a watchdog.
	sent     map[string][]SelfReport
	prevBoot map[string]SelfReport // the last report of the boot before
	noBMC    map[string]bool       // every fence of it fails: only its watchdog can count
	stopWait map[string]Ack
	procN    int // agent processes started, to name them
	hasWD    map[string]bool
	replay   bool // the report being stepped is a late copy of an old one

	story map[string][]string // per host: what happened, minus routine observations
	cov   coverage
}

func newWorld(seed int64) *world {
	rng := rand.New(rand.NewSource(seed))
	cfg := DefaultConfig()
	cfg.FenceLevels = 1 + rng.Intn(3)
	cfg.MaxConcurrentFences = 1 + rng.Intn(3)
	cfg.FenceRetry = 2 * time.Second
	cfg.FenceRetryMax = 8 * time.Second
	cfg.EvacuateRetry = 3 * time.Second
	cfg.EvacuateAttempts = 1 + rng.Intn(3)
	cfg.BrakeMaxHosts = 1 + rng.Intn(4)
	cfg.BrakeWindow = 30 * time.Second
	if rng.Intn(2) == 0 {
		cfg.SelfFenceAfter = 15 * time.Second
	}
	if rng.Intn(2) == 0 {
		cfg.Rejoin = RejoinAuto
	}
	e, err := New(cfg)
	if err != nil {
		panic(err)
	}
	w := &world{
		rng: rng, cfg: cfg, e: e, now: epoch,
		mode: map[string]mode{}, self: map[string]SelfReport{}, insts: map[string][]string{}, nova: map[string][]string{},
		counter: map[string]uint64{}, maint: map[string]bool{}, store: map[string]Record{},
		agentAt: map[string][]time.Time{}, lastAgent: map[string]time.Time{}, bmcOffAt: map[string]time.Time{},
		lastSelf: map[string]SelfReport{}, tr: map[string]*track{}, story: map[string][]string{},
		grantAt: map[string]time.Time{}, grantArmed: map[string]bool{},
		sent: map[string][]SelfReport{}, stopWait: map[string]Ack{}, hasWD: map[string]bool{},
		prevBoot: map[string]SelfReport{}, noBMC: map[string]bool{},
	}
	n := 3 + rng.Intn(6)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("h%d", i)
		hi := HostInfo{Name: name, Domain: fmt.Sprintf("rack%d", rng.Intn(2))}
		w.hosts = append(w.hosts, name)
		w.info = append(w.info, hi)
		e.AddHost(hi)
		for j := 0; j < rng.Intn(4); j++ {
			w.insts[name] = append(w.insts[name], fmt.Sprintf("vm%d.%d", i, j))
		}
		w.nova[name] = slices.Clone(w.insts[name])
		w.hasWD[name] = rng.Intn(2) == 0
		w.noBMC[name] = cfg.SelfFenceAfter > 0 && rng.Intn(4) == 0
		w.self[name] = SelfReport{BootID: "b1", Agent: w.newAgent(name), NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true},
			Domains: w.insts[name], WatchdogArmed: w.hasWD[name]}
		w.agentAt[name] = make([]time.Time, len(cfg.Networks))
		w.tr[name] = &track{}
	}
	w.leader = true
	w.step(Leadership{Leader: true})
	return w
}

// newAgent names a new agent process of host h.
func (w *world) newAgent(h string) string {
	w.procN++
	return fmt.Sprintf("%s-p%d", h, w.procN)
}

func (w *world) pick() string { return w.hosts[w.rng.Intn(len(w.hosts))] }

func (w *world) chance(p float64) bool { return w.rng.Float64() < p }

// step feeds one input at a fresh instant (the clock moves 1ms per input, so
// "stepped after the incident opened" is well defined) and records it.
func (w *world) step(in Input) {
	w.now = w.now.Add(time.Millisecond)
	switch m := in.(type) {
	case FenceResult, EvacuateResult, Confirm, Release, Rejoin, SetMaintenance:
		w.tell(hostOf(m), "input %T%+v", m, m)
	case Leadership:
		w.tell("", "input %+v", m)
	}
	switch m := in.(type) {
	case AgentReport:
		if i := slices.Index(w.cfg.Networks, m.Network); i >= 0 && w.agentAt[m.Host] != nil && !w.replay {
			// A replay of an old report shows nothing of the host now
			// (it may be dead since): not an answer for (c).
			w.agentAt[m.Host][i] = w.now
			w.lastAgent[m.Host] = w.now
			w.lastSelf[m.Host] = m.Self
		}
	case BMCReading:
		if m.Power == PowerOff {
			w.bmcOffAt[m.Host] = w.now
		} else {
			delete(w.bmcOffAt, m.Host)
		}
	case FenceResult:
		if tr := w.tr[m.Host]; tr != nil {
			if m.OK {
				tr.authAt = w.now
			} else {
				tr.failAt = w.now
				tr.fails++
			}
		}
	case Confirm:
		if tr := w.tr[m.Host]; tr != nil {
			tr.authAt = w.now
		}
	case Rejoin:
		if tr := w.tr[m.Host]; tr != nil {
			tr.rejoinAt = w.now
		}
	case EvacuateResult:
		if tr := w.tr[m.Host]; tr != nil && tr.open && m.OK {
			tr.evacuated = append(tr.evacuated, m.Instance)
		}
	case SetMaintenance:
		w.maint[m.Host] = m.On
	case Leadership:
		if m.Leader && !w.leader {
			w.leaderSince = w.now
		}
		w.leader = m.Leader
	}
	w.e.Step(w.now, in)
	if r, ok := in.(AgentReport); ok {
		if g, err := w.e.Grant(w.now, r); err == nil {
			if s := w.self[r.Host]; !g.Ticket.IsZero() && g.Agent == s.Agent {
				s.Ticket = g.Ticket // the agent process echoes it from now on
				w.self[r.Host] = s
			}
			w.grantAt[r.Host] = w.now
			if !w.replay {
				w.grantArmed[r.Host] = r.Self.WatchdogArmed
			}
		}
	}
}

func hostOf(in Input) string {
	switch m := in.(type) {
	case FenceResult:
		return m.Host
	case EvacuateResult:
		return m.Host
	case Confirm:
		return m.Host
	case Release:
		return m.Host
	case Rejoin:
		return m.Host
	case SetMaintenance:
		return m.Host
	}
	return ""
}

// tell adds a line to one host's story, or to every host's when h is "".
func (w *world) tell(h, format string, args ...any) {
	line := w.now.Sub(epoch).String() + " " + fmt.Sprintf(format, args...)
	for _, name := range w.hosts {
		if h == "" || h == name {
			w.story[name] = append(w.story[name], line)
		}
	}
}

func (w *world) trace(h string) string {
	st := w.story[h]
	if len(st) > 50 {
		st = st[len(st)-50:]
	}
	return "  " + strings.Join(st, "\n  ")
}

// round is about one second of cluster life followed, usually, by a Tick.
func (w *world) round() *violation {
	w.now = w.now.Add(time.Duration(200+w.rng.Intn(1300)) * time.Millisecond)
	for _, h := range w.hosts {
		if w.chance(0.015) {
			w.setMode(h)
		}
	}
	w.observe()
	w.execute()
	w.noise()
	w.operate()
	if !w.chance(0.85) {
		return nil
	}
	w.now = w.now.Add(time.Millisecond)
	r := w.e.Tick(w.now)
	return w.check(r)
}

func (w *world) setMode(h string) {
	defer func() { w.tell(h, "world: %s is now %s", h, w.mode[h]) }()
	switch x := w.rng.Intn(10); {
	case x < 4:
		w.mode[h] = alive
		s := w.self[h]
		// Back from the dead, maybe rebooted (guests gone), maybe not.
		if w.chance(0.5) {
			if old := w.sent[h]; len(old) > 0 {
				w.prevBoot[h] = old[len(old)-1]
			}
			s.BootID = fmt.Sprintf("b%d", w.rng.Intn(100))
			s.Agent, s.Ticket, s.Seq = w.newAgent(h), Ticket{}, 0
			s.Domains = nil
			s.WatchdogArmed = w.hasWD[h] // the new boot's agent arms it
			delete(w.stopWait, h)
		}
		w.self[h] = s
	case x < 5:
		w.mode[h] = agentDown
	case x < 6:
		w.mode[h] = partial
	default:
		// Cut off: maybe its agent was just stopped, and messages it
		// sent before are still in flight.
		if w.mode[h] == alive && w.chance(0.25) {
			w.stopAgent(h) // acknowledged at the next Tick
		}
		w.mode[h] = dead
		if w.chance(0.5) {
			w.late(h)
		}
	}
}

// observe feeds what the world's real state lets the controller see, with
// jitter: each report may be late or lost.
func (w *world) observe() {
	nets := w.cfg.Networks
	for _, h := range w.hosts {
		m := w.mode[h]
		s := w.self[h]
		if w.chance(0.03) {
			s.NovaCompute.Running = !s.NovaCompute.Running
		}
		if w.chance(0.02) {
			s.Libvirtd.Running = !s.Libvirtd.Running
		}
		if w.chance(0.05) {
			s.Domains = nil
		}
		s.Seq++
		w.self[h] = s
		var agentNets, peerNets []string
		switch m {
		case alive:
			agentNets, peerNets = nets, nets
		case agentDown:
			peerNets = nets
		case partial:
			agentNets, peerNets = nets[1:], nets[1:]
		}
		for _, n := range agentNets {
			if w.chance(0.9) {
				w.send(h, n, s)
			}
		}
		for _, n := range peerNets {
			if w.chance(0.8) {
				w.step(PeerReport{Observer: w.pick(), Host: h, Network: n, Reachable: true})
			}
		}
		if m == alive || m == partial {
			w.counter[h]++
		}
		if w.chance(0.2) {
			p := PowerOn
			if m == dead {
				p = []Power{PowerOff, PowerOn, PowerUnreachable}[w.rng.Intn(3)]
			}
			w.step(BMCReading{Host: h, Power: p})
		}
		if w.chance(0.2) {
			list := w.nova[h]
			if w.chance(0.3) {
				list = w.insts[h] // stale: as if none of its guests moved
			}
			w.step(NovaService{Host: h, Up: m != dead, Instances: slices.Clone(list)})
		}
	}
	if w.chance(0.9) {
		c := make(map[string]uint64, len(w.counter))
		for k, v := range w.counter {
			c[k] = v
		}
		w.step(StorageHeartbeats{OK: w.chance(0.95), Counters: c})
	}
}

// execute is a slow, unreliable executor answering the actions it was given.
func (w *world) execute() {
	var keepF []pendingFence
	for _, f := range w.fences {
		if w.now.Before(f.due) {
			keepF = append(keepF, f)
			continue
		}
		ok := w.chance(0.55) && !w.noBMC[f.host]
		w.step(FenceResult{Host: f.host, Level: f.level, OK: ok, Method: "ipmi", Proof: "off", Err: "timeout"})
		if ok {
			w.mode[f.host] = dead // a verified fence really stops the host
			w.tell(f.host, "world: %s is now %s", f.host, dead)
		}
	}
	w.fences = keepF
	var keepE []pendingEvac
	for _, ev := range w.evacs {
		if w.now.Before(ev.due) {
			keepE = append(keepE, ev)
			continue
		}
		ok := w.chance(0.7)
		target := w.pick()
		r := EvacuateResult{Host: ev.host, Instance: ev.instance, OK: ok, Accepted: ok || w.chance(0.3), Target: target, Err: "no valid host"}
		switch x := w.rng.Intn(20); {
		case x == 0: // the executor's fence re-read stopped it before Nova
			ok, r = false, EvacuateResult{Host: ev.host, Instance: ev.instance, FenceUnreadable: true, Err: "fence status unreadable"}
		case x == 1:
			ok, r = false, EvacuateResult{Host: ev.host, Instance: ev.instance, FenceLost: true, Err: "fence no longer holds"}
		}
		w.step(r)
		if ok && target != ev.host && slices.Contains(w.nova[ev.host], ev.instance) {
			w.nova[ev.host] = slices.DeleteFunc(w.nova[ev.host], func(s string) bool { return s == ev.instance })
			w.nova[target] = append(w.nova[target], ev.instance)
		}
	}
	w.evacs = keepE
}

// stopAgent is a clean agent stop: its watchdog is disarmed once
// acknowledged, unless the agent was started again before the ack came.
func (w *world) stopAgent(h string) {
	s := w.self[h]
	s.Seq++
	w.self[h] = s
	w.step(AgentStopping{Host: h, BootID: s.BootID, Agent: s.Agent, Ticket: s.Ticket, Seq: s.Seq})
	w.stopWait[h] = Ack{Host: h, BootID: s.BootID, Agent: s.Agent, Seq: s.Seq}
	if w.chance(0.3) {
		// started again before the ack came: a new agent process
		s.Agent, s.Ticket, s.Seq = w.newAgent(h), Ticket{}, 1
		s.WatchdogArmed = s.WatchdogArmed || w.hasWD[h]
		w.self[h] = s
		w.send(h, w.cfg.Networks[w.rng.Intn(len(w.cfg.Networks))], s)
	}
}

// late delivers a report h's agent sent a while ago, as another network or
// a relay does: an older message of this boot or, if it can, of the boot
// before.
func (w *world) late(h string) {
	old := w.sent[h]
	if len(old) < 2 {
		return
	}
	pick := old[w.rng.Intn(len(old)-1)]
	if p, ok := w.prevBoot[h]; ok && w.chance(0.5) {
		pick = p
	}
	w.replay = true
	w.tell(h, "world: a late report of %s seq %d (armed %v) arrives", pick.BootID, pick.Seq, pick.WatchdogArmed)
	w.step(AgentReport{Host: h, Network: w.cfg.Networks[w.rng.Intn(len(w.cfg.Networks))], Self: pick})
	w.replay = false
}

// send is the running agent reporting: its report, kept for late replays,
// also tells that an agent runs, so no stop it sent before waits any more.
func (w *world) send(h, network string, s SelfReport) {
	delete(w.stopWait, h)
	if old := w.sent[h]; len(old) == 0 || old[len(old)-1].Seq != s.Seq || old[len(old)-1].Agent != s.Agent {
		w.sent[h] = append(old, s)
		if len(w.sent[h]) > 20 {
			w.sent[h] = w.sent[h][1:]
		}
	}
	w.step(AgentReport{Host: h, Network: network, Self: s})
}

// noise steps inputs no sane collector would send: stale or duplicate
// results, reports for unknown hosts and networks.
func (w *world) noise() {
	if !w.chance(0.05) {
		return
	}
	h := w.pick()
	switch w.rng.Intn(8) {
	case 6:
		w.stopAgent(h)
	case 7:
		w.late(h)
	case 0:
		w.step(FenceResult{Host: h, Level: 1 + w.rng.Intn(3), OK: w.chance(0.5), Method: "stale"})
	case 1:
		w.step(EvacuateResult{Host: h, Instance: fmt.Sprintf("vm%d", w.rng.Intn(5)), OK: w.chance(0.5)})
	case 2:
		w.step(AgentReport{Host: "ghost", Network: "mgmt"})
	case 3:
		w.step(AgentReport{Host: h, Network: "nonet", Self: w.self[h]})
	case 4:
		w.step(PeerReport{Observer: w.pick(), Host: h, Network: "mgmt", Reachable: false})
	case 5:
		w.step(DiskWriters{Instance: "vm1.0", Hosts: []string{h}})
	}
}

// operate is the operators and the control plane around the engine.
func (w *world) operate() {
	switch {
	case w.chance(0.01):
		w.step(Confirm{Host: w.pick(), By: "op"})
	case w.chance(0.01):
		w.step(Release{Host: w.pick(), By: "op"})
	case w.chance(0.01):
		w.step(Rejoin{Host: w.pick(), By: "op"})
	case w.chance(0.05):
		// An operator answering rejoin-ready (vigil status shows it held).
		for _, s := range w.e.Status() {
			if s.State == Rejoining && s.Rule == "rejoin-ready" {
				w.step(Rejoin{Host: s.Name, By: "op"})
				break
			}
		}
	case w.chance(0.008):
		h := w.pick()
		w.step(SetMaintenance{Host: h, On: !w.maint[h]})
	case w.chance(0.004):
		w.step(Leadership{Leader: !w.leader})
	case w.chance(0.004):
		w.failover()
	}
}

// failover builds a new engine the way a new leader does: same hosts, the
// maintenance flags from the controller's store, and the persisted records.
func (w *world) failover() {
	e, err := New(w.cfg)
	if err != nil {
		panic(err)
	}
	w.e = e
	for _, hi := range w.info {
		e.AddHost(hi)
		w.agentAt[hi.Name] = make([]time.Time, len(w.cfg.Networks))
	}
	w.fences, w.evacs = nil, nil // the old executor died with the old leader
	for _, h := range w.hosts {
		if w.maint[h] {
			w.step(SetMaintenance{Host: h, On: true})
		}
	}
	var recs []Record
	for _, h := range w.hosts {
		w.tr[h].fails = 0
		w.tr[h].restored = w.tr[h].open
		if r, ok := w.store[h]; ok {
			recs = append(recs, r) // closed ones too: they carry when the host last failed
			if inIncidentState(r.Phase) {
				w.cov.restored++
			}
		}
	}
	e.Restore(recs)
	w.tell("", "FAILOVER: new engine restored %d records", len(recs))
	w.leader = false
	w.step(Leadership{Leader: true})
	for _, h := range w.hosts {
		if w.chance(0.3) {
			w.late(h) // messages in flight survive the leader change
		}
	}
}

func inIncidentState(s State) bool {
	switch s {
	case Fencing, Fenced, Recovering, Recovered, Rejoining:
		return true
	}
	return false
}

// check asserts the invariants on one Ready and feeds its actions to the
// executor.
func (w *world) check(r Ready) *violation {
	for _, t := range r.Transitions {
		w.tell(t.Host, "engine: %s -> %s (%s) %q", t.From, t.To, t.Rule, t.Evidence)
	}
	for _, a := range r.Actions {
		w.tell(a.Host, "engine: ACTION %v [%s]", a, a.Rule)
	}
	for _, rec := range r.Records {
		w.tell(rec.Host, "engine: record %s", fmtRecord(rec))
	}
	for _, t := range r.Transitions {
		if t.Rule == "" || len(t.Evidence) == 0 || slices.Contains(t.Evidence, "") {
			return violate(t.Host, "(d) transition without rule or evidence: %+v", t)
		}
		tr := w.tr[t.Host]
		switch {
		case t.To == Maintenance, t.From == Maintenance && inIncidentState(t.To) && tr.open:
			// An incident survives maintenance: it neither closes nor reopens.
			if t.From == Maintenance {
				w.cov.resumed++
			}
		case !inIncidentState(t.From) && inIncidentState(t.To):
			*tr = track{open: true, openAt: t.At, authAt: tr.authAt, failAt: tr.failAt}
			if !tr.failAt.Before(t.At) {
				tr.fails = 1
			}
		case (inIncidentState(t.From) || t.From == Maintenance) && !inIncidentState(t.To):
			tr.open, tr.authorized = false, false
		}
		if t.To == Rejoining && t.From != Rejoining {
			tr.rejoiningAt = t.At
		}
		switch t.Rule {
		case "fence-aborted":
			w.cov.aborted++
		case "clean-rejoin":
			w.cov.rejoins++
			if w.cfg.Rejoin == RejoinManual {
				w.cov.operatorRejoins++
			}
		case "brake":
			w.cov.brake++
		case "observer-blind":
			w.cov.blind++
		case "fence-unreadable":
			w.cov.unreadable++
		case "operator-confirmed":
			if t.From != Failed && t.From != Suspect && t.From != Fencing {
				w.cov.lateConfirms++
			}
		}
	}
	for _, h := range w.hosts {
		if w.maint[h] {
			w.cov.maintTicks++
		}
	}
	for _, a := range r.Actions {
		if w.maint[a.Host] && a.Kind != ActAlert && a.Kind != ActRenewFence { // a renewal touches Ceph, not the host
			return violate(a.Host, "(b) action %v for %s, which is in maintenance: %s", a, a.Host, a.Reason)
		}
		switch a.Kind {
		case ActAlert:
			if a.Code == "rejoin-refused" {
				w.cov.refusedRejoins++
			}
		case ActFence:
			if w.answering(a.Host) {
				return violate(a.Host, "(c) %v for %s, whose agent reported on every network within %v (last %v): %s",
					a, a.Host, w.cfg.AgentTimeout, w.agentAt[a.Host], a.Reason)
			}
			w.cov.fences++
			w.fences = append(w.fences, pendingFence{a.Host, a.Level, w.now.Add(time.Duration(w.rng.Intn(4000)) * time.Millisecond)})
		case ActUnfence, ActReEnable:
			if tr := w.tr[a.Host]; a.Rule == "clean-rejoin" && w.cfg.Rejoin == RejoinManual && tr.rejoinAt.Before(tr.rejoiningAt) {
				return violate(a.Host, "(f) %v for %s under the manual rejoin policy, with no Rejoin stepped since it became rejoining at %v (last Rejoin %v): %s",
					a, a.Host, at(tr.rejoiningAt), at(tr.rejoinAt), a.Reason)
			}
			for _, d := range w.lastSelf[a.Host].Domains {
				if slices.Contains(w.tr[a.Host].evacuated, d) {
					return violate(a.Host, "(e) %v for %s, whose agent last reported %s running, which was evacuated from it: %s", a, a.Host, d, a.Reason)
				}
			}
		case ActEvacuate:
			if err := w.authorize(a); err != nil {
				return err
			}
			w.cov.evacuations++
			for _, in := range a.Instances {
				w.evacs = append(w.evacs, pendingEvac{a.Host, in, w.now.Add(time.Duration(w.rng.Intn(3000)) * time.Millisecond)})
			}
		}
	}
	for _, rec := range r.Records {
		w.store[rec.Host] = rec
	}
	if len(r.Records) > 0 {
		w.e.Step(w.now, Persisted{Ready: r.Seq})
	}
	for _, a := range r.Acks {
		// Persisted, then acknowledged: only now does the agent disarm,
		// if it is still the agent that waits for this ack.
		if w.stopWait[a.Host] != a {
			w.tell(a.Host, "engine: ack %+v, but no agent waits for it", a)
			continue
		}
		delete(w.stopWait, a.Host)
		w.grantArmed[a.Host] = false
		s := w.self[a.Host]
		s.WatchdogArmed = false
		w.self[a.Host] = s
		w.tell(a.Host, "engine: ack of the clean stop (disarmed)")
	}
	for _, h := range w.hosts {
		if w.selfFenced(h) {
			w.tr[h].selfFence = true
		}
	}
	// Count the ticks where (c) had something to refuse: a host answering
	// on every network with an incident that is still fencing.
	for _, s := range w.e.Status() {
		if s.State == Fencing && s.Fence == nil && w.answering(s.Name) {
			w.cov.answeringFailed++
		}
	}
	return nil
}

func (w *world) answering(h string) bool {
	var last time.Time
	for _, at := range w.agentAt[h] {
		if at.IsZero() || w.now.Sub(at) >= w.cfg.AgentTimeout {
			return false
		}
		if at.After(last) {
			last = at
		}
	}
	off, ok := w.bmcOffAt[h]
	quietOff := ok && off.After(last) && w.now.Sub(last) >= w.cfg.AgentTimeout/2
	return !quietOff
}

// selfFenced reports whether, from what the test fed, h may count as
// self-fenced now: the last grant armed a watchdog, SelfFenceAfter has
// passed since that grant and since this engine leads, and a fence attempt
// failed in this incident.
func (w *world) selfFenced(h string) bool {
	tr := w.tr[h]
	from := w.grantAt[h]
	if from.Before(w.leaderSince) {
		from = w.leaderSince
	}
	return w.cfg.SelfFenceAfter > 0 && tr.open && w.grantArmed[h] &&
		w.now.Sub(from) >= w.cfg.SelfFenceAfter && !tr.failAt.IsZero() && !tr.failAt.Before(tr.openAt)
}

// authorize applies (a) to one evacuate action.
func (w *world) authorize(a Action) *violation {
	tr := w.tr[a.Host]
	if !tr.open {
		return violate(a.Host, "(a) %v for %s outside any incident the engine reported opening: %s", a, a.Host, a.Reason)
	}
	switch {
	case tr.authorized:
	case !tr.authAt.IsZero() && !tr.authAt.Before(tr.openAt):
		tr.authorized = true
		if a.Reason != "" && strings.Contains(a.Reason, "operator") {
			w.cov.confirmed++
		}
	case tr.selfFence || w.selfFenced(a.Host):
		// The conditions held at a Tick of this incident: the agent may
		// answer again since, from the boot the watchdog reset it into.
		tr.authorized = true
		w.cov.selfFenced++
	default:
		return violate(a.Host, "(a) %v for %s with no FenceResult{OK} or Confirm since its incident opened at %v (last authorization %v, last failed fence %v, last agent report %v): %s",
			a, a.Host, at(tr.openAt), at(tr.authAt), at(tr.failAt), at(w.lastAgent[a.Host]), a.Reason)
	}
	return nil
}
