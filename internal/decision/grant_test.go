package decision

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGrant pins who gets a grant, and when a grant lets a host start guests.
func TestGrant(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.SelfFenceAfter = 46 * time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	var tk Ticket // what b1's agent process was handed
	rep := func(boot string) AgentReport {
		r := AgentReport{Host: "cmp1", Network: "mgmt", Self: SelfReport{BootID: boot, Agent: boot, WatchdogArmed: true,
			NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
		if boot == "b1" {
			r.Self.Ticket = tk
		}
		return r
	}
	if _, err := e.Grant(t0, rep("b1")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a follower granted: %v", err)
	}
	e.Step(t0, Leadership{Leader: true, Token: 7})
	g, err := e.Grant(t0, rep("b1"))
	if err != nil || g.Guests || !g.Ticket.IsZero() {
		t.Fatalf("first grant to an agent process: %+v, %v; want no ticket and no guests until the record of its ticket is written", g, err)
	}
	rd0 := e.Tick(t0)
	if len(rd0.Records) == 0 || rd0.Records[0].WatchdogTicket.IsZero() {
		t.Fatalf("the first grant to b1 wrote no record of its ticket: %+v", rd0.Records)
	}
	if g, _ := e.Grant(t0, rep("b1")); g.Guests || !g.Ticket.IsZero() {
		t.Fatalf("ticket or guests handed out before the controller said the record was written: %+v", g)
	}
	e.Step(t0, Persisted{Ready: rd0.Seq})
	if g, _ = e.Grant(t0, rep("b1")); g.Ticket != rd0.Records[0].WatchdogTicket || g.Ticket.Term != 7 || !g.Guests {
		t.Fatalf("once written: grant %+v; want the written ticket, of term 7, and guests (the record counts no watchdog)", g)
	}
	tk = g.Ticket
	if g, _ = e.Grant(t0, rep("b1")); !g.Guests || e.hosts["cmp1"].armedBoot() != "b1" {
		t.Fatalf("the echo: grant %+v, armed %q; want b1 counted armed, guests still allowed (what is written counts less than the truth)", g, e.hosts["cmp1"].armedBoot())
	}
	disarmed := rep("b1")
	disarmed.Self.WatchdogArmed = false
	rd1 := e.Tick(t0)
	e.Step(t0, Persisted{Ready: rd1.Seq}) // "b1 armed" written
	if g, _ = e.Grant(t0, disarmed); g.Guests {
		t.Fatalf("b1 reports its watchdog closed while the store says armed: grant %+v lets guests start", g)
	}
	rd1 = e.Tick(t0)
	e.Step(t0, Persisted{Ready: rd1.Seq})
	rd := e.Tick(t0)
	e.Step(t0, Persisted{Ready: rd.Seq})
	g, err = e.Grant(t0, rep("b1"))
	if err != nil || g.Token != 7 || !g.Guests || g.BootID != "b1" || g.Agent != "b1" {
		t.Fatalf("healthy host: grant %+v, %v; want token 7, guests allowed", g, err)
	}
	// cmp1 falls silent, every fence fails; past the safe time from its
	// last grant (t0) vigil counts boot b1 as reset by its watchdog.
	now := t0
	for ; now.Before(t0.Add(60 * time.Second)); now = now.Add(250 * time.Millisecond) {
		e.Step(now, AgentReport{Host: "cmp2", Network: "mgmt", Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		e.Step(now, AgentReport{Host: "cmp2", Network: "storage", Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		e.Step(now, StorageHeartbeats{OK: true})
		for _, a := range e.Tick(now).Actions {
			if a.Kind == ActFence {
				e.Step(now, FenceResult{Host: "cmp1", Level: a.Level, Err: "BMC unreachable"})
			}
		}
	}
	if st := e.Status()[0]; st.Fence == nil || st.Fence.Method != "watchdog" {
		t.Fatalf("cmp1 not counted as self-fenced after 60 s: %+v", st)
	}
	if _, err := e.Grant(now, rep("b1")); !errors.Is(err, ErrBootFenced) {
		t.Fatalf("the boot counted as reset got a grant: %v", err)
	}
	g, err = e.Grant(now, rep("b2"))
	if err != nil || g.Guests {
		t.Fatalf("a new boot during the incident: %+v, %v; want a grant that starts no guests", g, err)
	}
}

// TestSelfFenceCountsFromTheLastGrant: a report the controller did not grant
// (it was not leader then) does not move the safe time, a grant does, and a
// new leader counts from its election.
func TestSelfFenceCountsFromTheLastGrant(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, _ := New(DefaultConfig())
	e.AddHost(HostInfo{Name: "cmp1"})
	h := e.hosts["cmp1"]
	e.Step(t0, Leadership{Leader: true})
	if got := e.selfFenceFrom(h); !got.Equal(t0) {
		t.Fatalf("never granted: from %v, want the election %v", got, t0)
	}
	r := AgentReport{Host: "cmp1", Network: "mgmt", Self: SelfReport{BootID: "b1", WatchdogArmed: true}}
	if _, err := e.Grant(t0.Add(5*time.Second), r); err != nil {
		t.Fatal(err)
	}
	if got := e.selfFenceFrom(h); !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("after a grant at +5s: from %v", got)
	}
	e.Step(t0.Add(6*time.Second), Leadership{Leader: false})
	e.Step(t0.Add(9*time.Second), Leadership{Leader: true})
	if got := e.selfFenceFrom(h); !got.Equal(t0.Add(9 * time.Second)) {
		t.Fatalf("re-elected at +9s: from %v, want the election", got)
	}
	e.Step(t0.Add(10*time.Second), AgentStopping{Host: "cmp1", BootID: "b1"})
	if h.grantArmed {
		t.Fatal("an acknowledged clean stop left the watchdog counted as armed")
	}
}

// concludesSelfFence drives cmp1 silent with every fence failing for 60 s
// from now and reports whether the engine then counts it as reset by its
// watchdog (cmp2 answers throughout, so the cluster rules stay calm).
func concludesSelfFence(e *Engine, now time.Time) bool {
	end := now.Add(60 * time.Second)
	for ; now.Before(end); now = now.Add(250 * time.Millisecond) {
		for _, net := range []string{"mgmt", "storage"} {
			e.Step(now, AgentReport{Host: "cmp2", Network: net, Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		}
		e.Step(now, StorageHeartbeats{OK: true})
		for _, a := range e.Tick(now).Actions {
			if a.Kind == ActFence {
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Err: "BMC unreachable"})
			}
		}
	}
	for _, st := range e.Status() {
		if st.Name == "cmp1" {
			return st.Fence != nil && st.Fence.Method == "watchdog"
		}
	}
	return false
}

// checkedEngine is watchdogEngine checking the agents' timeouts (10 s,
// 30 s): a watchdog reported longer does not count.
func checkedEngine(t *testing.T) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SelfFenceAfter, cfg.IsolationTimeout, cfg.WatchdogTimeout = 46*time.Second, 10*time.Second, 30*time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	return e
}

func watchdogEngine(t *testing.T) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SelfFenceAfter = 46 * time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	return e
}

// armedReport is a report of cmp1's agent on boot, one agent process per
// boot (named after it), whose watchdog is armed.
func armedReport(boot string, seq uint64) AgentReport {
	return AgentReport{Host: "cmp1", Network: "mgmt", Self: SelfReport{BootID: boot, Agent: boot, Seq: seq, WatchdogArmed: true,
		NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
}

// TestDisarmSurvivesFailover (second adversarial review, r1): a clean stop
// disarmed cmp1's watchdog and the leader failed over; a report the agent
// sent before its stop notice arrives late, at the successor. It must not
// re-arm what the successor believes: the host runs on without a watchdog,
// and counting it as self-fenced would start its guests a second time. The
// disarm, with the message that made it, is persisted like an arming.
func TestDisarmSurvivesFailover(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 4))
	x.stop(t0.Add(time.Second), "cmp1", "b1", "b1", 6)
	x.tick(t0.Add(time.Second))
	if len(x.acks) != 1 {
		t.Fatalf("stop notice: acks %v, want one", x.acks)
	}
	now := t0.Add(20 * time.Second)
	x.failover(now, 2)
	x.late(now, armedReport("b1", 5)) // sent before the stop notice (seq 6)
	if concludesSelfFence(x.e, now) {
		t.Fatal("the successor counted a watchdog the acknowledged stop disarmed as a fence")
	}
}

// TestOldBootNeverReArms (second adversarial review, r2): cmp1 rebooted;
// its new boot's agent stopped cleanly and was acknowledged. A report of
// the boot before, delayed on another network, then arrives saying armed.
// That boot is over: nothing it says may change what vigil believes of the
// host's watchdog, or vigil would count a reset that nothing will cause.
func TestOldBootNeverReArms(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 9))
	x.report(t0.Add(10*time.Second), armedReport("b2", 1))
	x.stop(t0.Add(11*time.Second), "cmp1", "b2", "b2", 2)
	x.tick(t0.Add(11 * time.Second))
	if len(x.acks) != 1 {
		t.Fatalf("stop notice: acks %v, want one", x.acks)
	}
	x.late(t0.Add(12*time.Second), armedReport("b1", 10)) // late, from the boot before
	if concludesSelfFence(x.e, t0.Add(12*time.Second)) {
		t.Fatal("a late report of an ended boot re-armed the watchdog belief")
	}
}

// TestWatchdogBeliefUnderReordering drives one host's agent through random
// reports, clean stops (acknowledged, or overtaken by a restart), agent
// restarts and crashes (each a new agent process), reboots (into a boot
// whose agent may feed no watchdog, or name no process), messages delivered
// late and out of order (any message any earlier process sent, with the
// ticket it held then), leader failovers restored from the persisted
// records or from an older snapshot of them (a store restored after a
// disaster), writes that fail once, leaders that lost etcd and write
// nothing until they are deposed, agents that name themselves the same
// on every boot, an old process running on a while next to its successor
// (overlap during a restart), a stopping process whose report loop runs on
// while it waits for its ack, writes confirmed only at the next tick (slow
// commits), controllers that pass every leader the same fencing token, and
// acks that reach the stopping agent only after later grants did (slow
// acks), with late first words (no ticket) of other processes more often,
// boots whose watchdog device rounds the timeout up (the agent reports
// it; the engine checks the timeouts), and stop notices that arrive after
// reports sent since (VIGIL_REORDER_SKIP=overlap, stopreport,slow,
// sametoken,slowack,latefirst,long,slownotice leaves those out; slownotice
// also leaves out the check that a stopping agent gets its ack).
// After every input it checks the
// contract's engine side: whenever vigil believes the host's watchdog
// armed, the watchdog really runs, or the boot runs no guest (never granted
// them). Otherwise vigil would one day count a reset that nothing causes
// and start the host's guests a second time. Fresh seeds:
// VIGIL_REORDER_SEED=N starts there, VIGIL_REORDER_N sets how many.
func TestWatchdogBeliefUnderReordering(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first, n := int64(1), int64(3000)
	if testing.Short() {
		n = 300
	}
	if v, err := strconv.ParseInt(os.Getenv("VIGIL_REORDER_SEED"), 10, 64); err == nil {
		first = v
	}
	if v, err := strconv.ParseInt(os.Getenv("VIGIL_REORDER_N"), 10, 64); err == nil {
		n = v
	}
	// VIGIL_REORDER_SKIP names moves to leave out (comma-separated:
	// overlap, stopreport, slow, sametoken, slowack, latefirst, long, slownotice), to look past a known
	// class.
	skip := map[string]bool{}
	for _, m := range strings.Split(os.Getenv("VIGIL_REORDER_SKIP"), ",") {
		skip[m] = true
	}
	type proc struct {
		boot, id  string
		ticket    Ticket
		seq       uint64
		alive     bool // runs and reports (the running process, or one overlapping it)
		long      bool // its device rounded the watchdog timeout up (it reports so)
		ungranted int  // its reports in a row that got no grant (agent.Contract drops its ticket)
	}
	type sent struct {
		p    *proc
		self SelfReport
	}
	fails, held, unacked := 0, 0, 0
	for seed := first; seed < first+n; seed++ {
		rng := rand.New(rand.NewSource(seed))
		e := checkedEngine(t)
		now := t0
		term := uint64(1)
		e.Step(now, Leadership{Leader: true, Token: term})
		store := map[string]Record{}
		boots, procs := 1, 1
		cur := &proc{boot: "b1", id: "p1", alive: true}
		var prev *proc                                      // an older process still running for a while (overlap during a restart)
		var stopper *proc                                   // a process in its clean stop, whose report loop may still run
		sameToken := !skip["sametoken"] && rng.Intn(4) == 0 // a controller that passes the same token to every leader
		var pending []uint64                                // Readies written but not yet confirmed (a slow commit)
		running := true                                     // cur runs (not stopped, not crashed)
		armed := true                                       // the truth: the host's watchdog runs
		devLong := false                                    // the truth: its device resets later than the safe time assumes
		guests := false                                     // the running boot got a grant letting it start guests
		zombie, blip, broke, slow := false, false, false, false
		var last Grant // the last grant any message got
		var waiting *Ack
		var notice *AgentStopping // the stopping process's notice
		noticeOut := false        // it is still on its way
		var acksOut []Ack         // acks sent, not yet at the agent (a slow link)
		var msgs []sent
		var snaps []map[string]Record // copies of the store, for restores from a snapshot
		var restoredAt uint64         // the token of the last restore from a snapshot
		var story []string
		say := func(f string, a ...any) { story = append(story, fmt.Sprintf(f, a...)) }
		// timed adds the timeouts p reports (agent.Contract): its device's.
		timed := func(s SelfReport, p *proc) SelfReport {
			s.IsolationTimeout, s.WatchdogTimeout = 10*time.Second, 30*time.Second
			if p.long {
				s.WatchdogTimeout = 60 * time.Second
			}
			return s
		}
		land := func() { // the acks in flight reach the agent
			for _, a := range acksOut {
				if waiting != nil && a == *waiting {
					armed, waiting = false, nil
					say("ack %s seq %d: disarmed", a.Agent, a.Seq)
				}
			}
			acksOut = nil
		}
		tick := func() {
			rd := e.Tick(now)
			if zombie || blip && len(rd.Records) > 0 {
				say("tick: the write fails (%d records lost)", len(rd.Records))
				blip = false // the next write fails, not the next tick
				return
			}
			for _, r := range rd.Records {
				store[r.Host] = r
			}
			for _, p := range pending { // slow commits confirmed, in order
				e.Step(now, Persisted{Ready: p})
			}
			pending = nil
			if len(rd.Records) > 0 { // as a controller: nothing to write, nothing to confirm
				if slow {
					pending = append(pending, rd.Seq)
					slow = false
					say("tick: the write commits slowly (Ready %d)", rd.Seq)
				} else {
					e.Step(now, Persisted{Ready: rd.Seq})
				}
			}
			acksOut = append(acksOut, rd.Acks...)
			if skip["slowack"] || rng.Intn(4) == 0 {
				land()
			}
		}
		deliver := func(m sent, why string) {
			r := AgentReport{Host: "cmp1", Network: "mgmt", Self: m.self}
			e.Step(now, r)
			g, err := e.Grant(now, r)
			if m.p == cur {
				last = g
			}
			if err != nil && m.p.alive && m.self.Seq == m.p.seq {
				// As agent.Contract: a process whose reports go
				// ungranted drops its ticket and is placed anew.
				if m.p.ungranted++; m.p.ungranted > 3 {
					m.p.ticket = Ticket{}
				}
			}
			if err == nil && g.Agent == m.p.id && g.BootID == m.p.boot && m.p.alive {
				m.p.ungranted = 0
				if !g.Ticket.IsZero() {
					m.p.ticket = g.Ticket
				}
				if g.Guests && m.p.boot == cur.boot {
					guests = true
				}
			}
			say("%s: %s/%s ticket %v seq %d armed %v (ticket %v guests %v, %v)", why, m.self.BootID, m.self.Agent, m.self.Ticket, m.self.Seq, m.self.WatchdogArmed, g.Ticket, g.Guests, err)
		}
		start := func(boot string, named, arms bool) {
			procs++
			cur.alive = false
			cur = &proc{boot: boot, id: fmt.Sprintf("p%d", procs), alive: true, long: devLong}
			if !named {
				cur.id = ""
			}
			running, waiting = true, nil
			armed = armed || arms
		}
		for i := 0; i < 80; i++ {
			now = now.Add(time.Duration(100+rng.Intn(900)) * time.Millisecond)
			if prev != nil && rng.Intn(4) == 0 {
				prev.alive, prev = false, nil // the overlap ends
				say("the older process exits")
			}
			if stopper != nil && stopper != cur {
				stopper = nil
			}
			if len(acksOut) > 0 && rng.Intn(8) == 0 {
				land()
			}
			if noticeOut && rng.Intn(3) == 0 {
				noticeOut = false
				e.Step(now, *notice)
				say("stop notice %s seq %d arrives", notice.Agent, notice.Seq)
			}
			switch x := rng.Intn(19); {
			case x < 5: // the agent reports
				if !running {
					break
				}
				cur.seq++
				m := sent{cur, timed(SelfReport{BootID: cur.boot, Agent: cur.id, Ticket: cur.ticket, Seq: cur.seq, WatchdogArmed: armed,
					NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}, cur)}
				msgs = append(msgs, m)
				deliver(m, "report")
			case x < 6: // a clean stop
				if !running || !armed {
					break
				}
				cur.seq++
				notice = &AgentStopping{Host: "cmp1", BootID: cur.boot, Agent: cur.id, Ticket: cur.ticket, Seq: cur.seq}
				if !skip["slownotice"] && rng.Intn(3) == 0 {
					noticeOut = true // it arrives later, after reports sent since
					say("stop notice %s seq %d (in flight)", cur.id, cur.seq)
				} else {
					e.Step(now, *notice)
					say("stop notice %s seq %d", cur.id, cur.seq)
				}
				running, waiting = false, &Ack{Host: "cmp1", BootID: cur.boot, Agent: cur.id, Seq: cur.seq}
				stopper = cur
			case x < 7: // the agent restarts (after a crash, a stop, or a wiped state): it arms
				old, was := cur, running
				start(cur.boot, true, true)
				if was && old.id != "" && prev == nil && !skip["overlap"] && rng.Intn(3) == 0 {
					old.alive, prev = true, old // the old process runs on a while (overlap)
					say("agent restarts as %s on %s; %s still runs", cur.id, cur.boot, old.id)
				} else {
					say("agent restarts as %s on %s", cur.id, cur.boot)
				}
			case x < 8: // a reboot: the new boot's agent arms it, or has no watchdog
				boots++
				armed, guests = false, false
				named, arms := rng.Intn(6) > 0, rng.Intn(4) > 0
				devLong = arms && !skip["long"] && rng.Intn(5) == 0
				if prev != nil {
					prev.alive, prev = false, nil
				}
				stopper = nil
				prevID := cur.id
				start(fmt.Sprintf("b%d", boots), named, arms)
				if named && prevID != "" && rng.Intn(3) == 0 {
					cur.id = prevID // an agent that names itself the same on every boot
				}
				say("reboot into %s, agent %q, armed %v, long %v", cur.boot, cur.id, arms, devLong)
			case x < 10: // a late message, with the ticket its process held when it sent it
				if len(msgs) == 0 {
					break
				}
				m := msgs[rng.Intn(len(msgs))]
				if !skip["latefirst"] && rng.Intn(3) == 0 {
					// a first word (no ticket yet): never provably stale
					var first []sent
					for _, f := range msgs {
						if f.self.Ticket.IsZero() && f.p != cur {
							first = append(first, f)
						}
					}
					if len(first) > 0 {
						m = first[rng.Intn(len(first))]
					}
				}
				deliver(m, "late")
			case x < 11: // one write fails; the leader goes on
				blip = true
			case x < 12: // the leader loses etcd: it writes nothing until deposed
				if !zombie {
					zombie = true
					say("the leader loses etcd")
				}
			case x < 13: // a snapshot of the store is taken
				snap := map[string]Record{}
				for k, r := range store {
					snap[k] = r
				}
				snaps = append(snaps, snap)
			case x < 16: // the older, overlapping process reports
				if prev == nil {
					break
				}
				prev.seq++
				// It gave the device up to its successor (closed it
				// without disarming, so the successor could open it):
				// agent.Contract.Abandoned, it no longer says armed.
				m := sent{prev, timed(SelfReport{BootID: prev.boot, Agent: prev.id, Ticket: prev.ticket, Seq: prev.seq,
					NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}, prev)}
				msgs = append(msgs, m)
				deliver(m, "overlap report")
			case x < 17: // the stopping process's report loop runs on while it waits for its ack: sent now, it arrives now or later
				if stopper == nil || waiting == nil || stopper != cur || skip["stopreport"] {
					break
				}
				stopper.seq++
				m := sent{stopper, timed(SelfReport{BootID: stopper.boot, Agent: stopper.id, Ticket: stopper.ticket, Seq: stopper.seq, WatchdogArmed: true, Stopping: true,
					NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}, stopper)}
				msgs = append(msgs, m)
				if rng.Intn(2) == 0 {
					deliver(m, "report while stopping")
				} else {
					say("report while stopping %s seq %d (in flight)", stopper.id, stopper.seq)
				}
			case x < 18: // the next write commits slowly: confirmed only at the following tick
				slow = !skip["slow"]
			default: // failover, from the store or (1 in 4) from an older snapshot of it
				e = checkedEngine(t)
				if len(snaps) > 0 && rng.Intn(4) == 0 {
					store = snaps[rng.Intn(len(snaps))]
					snaps = nil
					term += 1000 // restored with --bump-revision
					restoredAt = term
					say("failover from a snapshot")
				} else {
					if !sameToken {
						term++
					}
					say("failover")
				}
				e.RestoreSnapshot(records(store), restoredAt)
				e.Step(now, Leadership{Leader: true, Token: term})
				zombie, pending = false, nil
			}
			if rng.Intn(3) > 0 {
				tick()
			}
			// (Believing a boot armed while the watchdog runs is safe:
			// the host resets unless granted, and every grant postpones
			// the conclusion. A boot that was never granted guests runs
			// none: the start gate.)
			if b := e.hosts["cmp1"].armedBoot(); b != "" && (!armed || devLong) && guests {
				fails++
				if fails <= 3 {
					t.Errorf("seed %d: vigil believes %s armed; the host runs %s/%s with no watchdog (or one that resets late: %v), and guests:\n  %s",
						seed, b, cur.boot, cur.id, devLong, strings.Join(story[max(0, len(story)-20):], "\n  "))
				}
				broke = true
				break
			}
		}
		if broke {
			continue
		}
		// Liveness: once the store takes writes again (a zombie is
		// deposed, a failed write retried) and the running agent process
		// talks to the leader, its guests may start within seconds,
		// unless an incident holds a fence of the host.
		if prev != nil {
			prev.alive, prev = false, nil
		}
		if zombie {
			e = checkedEngine(t)
			if !sameToken {
				term++
			}
			e.RestoreSnapshot(records(store), restoredAt)
			e.Step(now, Leadership{Leader: true, Token: term})
			zombie, pending = false, nil
			say("failover")
		}
		// A stopping process, talking to a working leader, gets its ack
		// within seconds: it goes on reporting (Stopping) and sends its
		// notice again while none comes. Otherwise its watchdog resets a
		// host stopped for an upgrade.
		if waiting != nil && stopper == cur && !skip["slownotice"] {
			for k := 0; k < 6 && waiting != nil; k++ {
				now = now.Add(time.Second)
				cur.seq++
				deliver(sent{cur, timed(SelfReport{BootID: cur.boot, Agent: cur.id, Ticket: cur.ticket, Seq: cur.seq, WatchdogArmed: true, Stopping: true,
					NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}, cur)}, "report while stopping")
				if k%2 == 1 || noticeOut {
					noticeOut = false
					e.Step(now, *notice)
					say("stop notice %s seq %d (again)", notice.Agent, notice.Seq)
				}
				tick()
				land()
			}
			if h := e.hosts["cmp1"]; waiting != nil && (h.inc == nil || h.inc.fence == nil) {
				unacked++
				if unacked <= 3 {
					t.Errorf("seed %d: HEALTHY HOST RESET: 6 s of the stopping process %s/%s reporting to a working leader and sending its notice (seq %d) again, and no ack came:\n  %s",
						seed, cur.boot, cur.id, notice.Seq, strings.Join(story[max(0, len(story)-24):], "\n  "))
				}
			}
		}
		if !running {
			start(cur.boot, true, true)
			say("agent restarts as %s on %s", cur.id, cur.boot)
		}
		blip = rng.Intn(3) == 0 // the quiet period's first write fails
		for k := 0; k < 8; k++ {
			now = now.Add(time.Second)
			cur.seq++
			deliver(sent{cur, timed(SelfReport{BootID: cur.boot, Agent: cur.id, Ticket: cur.ticket, Seq: cur.seq, WatchdogArmed: armed,
				NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}, cur)}, "report")
			tick()
		}
		if h := e.hosts["cmp1"]; !last.Guests && (h.inc == nil || h.inc.fence == nil) {
			held++
			if held <= 3 {
				t.Errorf("seed %d: GUESTS HELD: 8 s of the running agent process %s/%s reporting to a working leader, and its grants still hold its guests:\n  %s",
					seed, cur.boot, cur.id, strings.Join(story[max(0, len(story)-24):], "\n  "))
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d sequences broke the contract", fails, n)
	}
	if unacked > 0 {
		t.Errorf("%d of %d sequences left a stopping agent without its ack", unacked, n)
	}
	if held > 0 {
		t.Errorf("%d of %d sequences held a live host's guests", held, n)
	}
}

func records(store map[string]Record) []Record {
	var recs []Record
	for _, r := range store {
		recs = append(recs, r)
	}
	return recs
}

// TestTicketsNeverRepeat: a successor issues tickets unlike any written,
// even when it is given the same fencing token (a controller that passes
// none). Otherwise an ended process issued a ticket again could have an old
// message, carrying its old ticket, taken for an echo of the new one: placed
// on the word of a message sent before the ticket existed.
func TestTicketsNeverRepeat(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.e.Step(t0, Leadership{Leader: true}) // token 0
	x.report(t0, armedReport("b1", 1))
	old := x.tickets["b1"]
	x.report(t0.Add(time.Second), unarmedReport("b2", 1)) // rebooted: b2 holds the next ticket
	now := t0.Add(2 * time.Second)
	x.failover(now, 0) // the same token
	early := armedReport("b1", 0)
	early.Self.Ticket = Ticket{} // b1's first word, sent before it had a ticket, arrives now
	x.e.Step(now, early)
	if _, err := x.e.Grant(now, early); err != nil {
		t.Fatal(err)
	}
	x.tick(now)
	if h := x.e.hosts["cmp1"]; h.tAgent != "b1" || h.ticket == old {
		t.Fatalf("the successor issued b1 ticket %v, its old one was %v: tickets repeat", h.ticket, old)
	}
	x.late(now, armedReport("b1", 2)) // b1's old report, carrying its old ticket
	if concludesSelfFence(x.e, now) {
		t.Fatal("DOUBLE WRITER: an old message of ended b1 was taken for the echo of a ticket issued after it; b2 runs without a watchdog")
	}
}

// Every grant carries the leader's own timeouts: no agent holds a grant,
// or sets its device, longer than the safe time counts
// (scenarios/watchdog-zombie-grants-longer-isolation-successor.yaml).
func TestGrantCarriesTheLeadersTimeouts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.SelfFenceAfter = 46 * time.Second
	cfg.IsolationTimeout, cfg.WatchdogTimeout = 10*time.Second, 10*time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.Step(t0, Leadership{Leader: true, Token: 1})
	// An agent configured apart, with longer timeouts than the leader's.
	r := AgentReport{Host: "cmp1", Network: "mgmt", Self: SelfReport{BootID: "b1", Agent: "p1",
		IsolationTimeout: 60 * time.Second, WatchdogTimeout: 30 * time.Second}}
	e.Step(t0, r)
	g, err := e.Grant(t0, r)
	if err != nil {
		t.Fatal(err)
	}
	if g.IsolationTimeout != 10*time.Second || g.WatchdogTimeout != 10*time.Second {
		t.Fatalf("the grant carries %v/%v; want the leader's 10s/10s", g.IsolationTimeout, g.WatchdogTimeout)
	}
}
