package decision

import (
	"errors"
	"testing"
	"time"
)

// Eighth adversarial review (attack8), against 4e5ec18 (ordered tickets,
// stale messages refused, records with terms, rewrites with their acks,
// unnamed agents' guests). Each test failed on the code it was written
// against.

// Finding H1 (double writer): a stop notice is not the stopping process's
// last word. agent.Contract lets a process Report after its Stop (nothing
// in the contract or the agent forbids it, and an agent whose report loop
// runs until the process exits does so while it waits for the ack), and
// such a report still says "armed" (true: the watchdog stays armed until
// the ack). The engine takes it as the holder's newest word and believes
// b1 armed again, but the ack of the notice was already written and sent:
// the agent takes it (Contract.Acked matches the notice's Seq, whatever it
// sent since) and disarms. The agent is not started again (stopped for
// maintenance), cmp1 is then cut off with its BMC: vigil counts b1's
// watchdog, which nobody feeds, as its fence, and evacuates while b1 runs
// its guests.
func TestAttack8ReportAfterStopReArms(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	if g := x.report(t0.Add(time.Second), armedReport("b1", 2)); !g.Guests {
		t.Fatalf("setup: b1 may not start guests: %+v", g)
	}
	now := t0.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	x.tick(now)
	if len(x.acks) != 1 {
		t.Fatalf("setup: the stop was not acknowledged: %v", x.acks)
	}
	// Sent after the notice, while the agent waits for the ack (on its
	// way: it disarms b1's watchdog when it arrives).
	x.late(now.Add(200*time.Millisecond), armedReport("b1", 4))
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" {
		if concludesSelfFence(x.e, now.Add(200*time.Millisecond)) {
			t.Fatalf("DOUBLE WRITER: the ack of b1's stop (seq 3) was sent, yet b1's report seq 4 made vigil believe %s armed again; the agent disarmed on the ack and vigil counted the unfed watchdog as cmp1's fence", b)
		}
		t.Fatalf("DOUBLE WRITER: vigil believes %s armed after acknowledging its stop; the agent disarms on that ack", b)
	}
}

// Finding H2 (needless host reset; availability): the stop's ack is
// dropped when its record is superseded before it is re-sent. The Ready
// with b1's disarm and its ack fails to write; before rewrite() sends them
// again (1 s), a message vigil cannot place arrives (the first report of
// an ended boot b0, sent before it had a ticket, late over a relay): a new
// ticket, a new record, Ready written. Persisted confirms it and clears
// unsavedAck: the ack that went out with the failed write is never sent
// again, although the record now written says no watchdog counts. The
// stopping agent waits for it until its watchdog resets the healthy host.
func TestAttack8AckLostWhenRecordSuperseded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	now := t0.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	if rd := x.e.Tick(now); len(rd.Acks) != 1 { // the write fails: the ack is dropped with it
		t.Fatalf("setup: the stop emitted acks %v", rd.Acks)
	}
	now = now.Add(300 * time.Millisecond)
	x.late(now, armedReport("b0", 1)) // b0's first report, no ticket, arriving now
	for i := 0; i < 20; i++ {
		now = now.Add(500 * time.Millisecond)
		x.tick(now)
	}
	for _, a := range x.acks {
		if a.Agent == "b1" && a.Seq == 3 {
			return
		}
	}
	t.Fatalf("HEALTHY HOST RESET: the ack of b1's clean stop went out only with a write that failed and was never sent again (acks %v, record %+v): the stopping agent's watchdog resets cmp1", x.acks, x.store["cmp1"])
}

// Finding H3 (double writer, G3's class): an operator's confirm names the
// boot of the last message this leader heard, and a leader that heard none
// (a successor, cmp1 cut off before its election) names none: Fence.BootID
// "" refuses no boot at all (selfFence ignores it). The operator was wrong,
// b1 still runs; when its reports come through again it is granted, feeds
// its watchdog and runs its guests while vigil evacuates them. The record
// names b1 as the host's last boot: the confirm should have named it.
func TestAttack8ConfirmAfterFailoverNamesNoBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, unarmedReport("b1", 1))
	x.report(t0.Add(time.Second), unarmedReport("b1", 2))
	now := t0.Add(2 * time.Second)
	x.failover(now, 2) // cmp1 is cut off with its BMC; the successor never hears it
	now = x.silent(now, 30*time.Second)
	x.e.Step(now, Confirm{Host: "cmp1", By: "ops"})
	x.tick(now)
	st := x.status("cmp1")
	if st.Fence == nil || st.Fence.Method != "operator" {
		t.Fatalf("setup: the confirm was not taken: %+v %s", st, codes(x.acts))
	}
	r := unarmedReport("b1", 3)
	r.Self.Ticket = x.tickets["b1"]
	now = now.Add(time.Second)
	x.e.Step(now, r)
	if _, err := x.e.Grant(now, r); !errors.Is(err, ErrBootFenced) {
		t.Fatalf("DOUBLE WRITER: the operator confirmed cmp1 off, the confirm named boot %q, and b1, still running, got a grant (err %v) instead of being refused", st.Fence.BootID, err)
	}
}

// Finding H4 (double writer, G3's class by another message): the confirm
// names the boot of the last message that was not provably stale, and a
// late message of an ended process that carries no ticket (its first
// report, sent before its grant handed it one) is never provably stale.
// cmp1 ran b1, rebooted into b2 (placed, ticket echoed) and was cut off
// with its BMC; b1's first report then arrived over a relay. An operator
// confirms cmp1 off: the fence names b1. b2, which was not off after all,
// is granted again, feeds its watchdog and runs its guests while they are
// evacuated.
func TestAttack8ConfirmNamesUnplacedLateBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	early := unarmedReport("b1", 1) // b1's first report: no ticket
	x.report(t0, unarmedReport("b1", 40))
	now := t0.Add(80 * time.Second)
	x.report(now, unarmedReport("b2", 1))
	x.report(now.Add(time.Second), unarmedReport("b2", 2))
	if h := x.e.hosts["cmp1"]; !h.echoed || h.tAgent != "b2" {
		t.Fatalf("setup: b2 does not hold an echoed ticket: %+v", h.watchdogState())
	}
	now = x.silent(now.Add(time.Second), 30*time.Second)
	b1 := x.tickets["b1"]
	delete(x.tickets, "b1")
	x.late(now, early)
	x.tickets["b1"] = b1
	now = x.silent(now, 30*time.Second)
	x.e.Step(now, Confirm{Host: "cmp1", By: "ops"})
	x.tick(now)
	st := x.status("cmp1")
	if st.Fence == nil || st.Fence.Method != "operator" {
		t.Fatalf("setup: the confirm was not taken: %+v %s", st, codes(x.acts))
	}
	r := unarmedReport("b2", 3)
	r.Self.Ticket = x.tickets["b2"]
	now = now.Add(time.Second)
	x.e.Step(now, r)
	if _, err := x.e.Grant(now, r); !errors.Is(err, ErrBootFenced) {
		t.Fatalf("DOUBLE WRITER: the confirm named boot %s (a late message of an ended boot that carried no ticket); b2, still running, got a grant (err %v) instead of being refused", st.Fence.BootID, err)
	}
}

// Finding H5 (double writer): tickets repeat after all. Given the same
// fencing token (a controller that passes none, TestTicketsNeverRepeat's
// case), a successor keeps its tickets apart from every one written by
// counting past the highest N in the records. But a host whose agent names
// no process records no ticket at all (place zeroes it), so the record of
// cmp1 forgets the count: b1's process p held 0.1, cmp1 rebooted into b2,
// whose old agent names no process and feeds no watchdog (it may start
// guests once its record is written), and the successor issues 0.1 again,
// to b1's first report arriving late. b1's later report, carrying its old
// 0.1, is taken for the echo: vigil believes b1 armed while b2 runs the
// guests with no watchdog, and counts b1's watchdog as cmp1's fence.
func TestAttack8UnnamedBootForgetsTicketCount(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.e.Step(t0, Leadership{Leader: true}) // token 0
	early := armedReport("b1", 1)          // b1's first report: no ticket
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	old := x.tickets["b1"]
	now := t0.Add(60 * time.Second) // rebooted: b2's agent names no process
	u := unarmedReport("b2", 1)
	u.Self.Agent = ""
	x.report(now, u)
	if g := x.report(now.Add(time.Second), u); !g.Guests {
		t.Fatalf("setup: b2's unnamed agent may not start guests: %+v", g)
	}
	now = now.Add(2 * time.Second)
	x.failover(now, 0) // the same token
	delete(x.tickets, "b1")
	x.late(now, early)
	if h := x.e.hosts["cmp1"]; h.ticket == old {
		t.Logf("the successor issued b1 ticket %v again", h.ticket)
	}
	x.tickets["b1"] = old
	x.late(now, armedReport("b1", 2)) // b1's old report, carrying its old ticket
	if concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: a ticket was issued again (%v) after the record of an unnamed boot dropped its count; b1's old message echoed it and vigil counted b1's watchdog as the fence of cmp1, whose b2 runs guests without one", old)
	}
}

// Finding H6 (healthy host fenced or reset; availability): ErrStale locks
// the running agent process out for good. During a restart the old
// process p1 and the new p2 overlap for a few seconds (a DaemonSet rolling
// update with maxSurge, or an old process whose shutdown hangs while its
// report loop runs on). p2 is placed and handed ticket A; before its echo
// reaches the leader p1 speaks again, is placed after it (ticket B) and
// echoes B first. p1 then ends. Every message p2 sends from then on
// carries A, issued before B, which an echoed holder proves older: no
// grant (ErrStale), no sign of life. Nothing ever gives p2 another ticket
// (it changes its ticket only on a grant), so p2's guests are never
// allowed, its watchdog (if it took it over) is never fed and resets the
// host, and vigil judges the healthy, reporting cmp1 dead and fences it.
func TestAttack8OverlapLocksOutRunningProcess(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	now := t0
	for s := uint64(1); s <= 5; s++ {
		x.report(now, namedReport("b1", "p1", s, true))
		now = now.Add(time.Second)
	}
	// p2 starts while p1 still runs: placed, then handed ticket A.
	x.late(now, namedReport("b1", "p2", 1, true))
	x.late(now.Add(100*time.Millisecond), namedReport("b1", "p2", 2, true))
	if x.tickets["p2"].IsZero() {
		t.Fatal("setup: p2 was not handed a ticket")
	}
	// p1's next reports arrive first: placed again, handed B, echoed.
	now = now.Add(300 * time.Millisecond)
	for s := uint64(6); s <= 8; s++ {
		x.late(now, namedReport("b1", "p1", s, true))
		now = now.Add(100 * time.Millisecond)
	}
	if h := x.e.hosts["cmp1"]; h.tAgent != "p1" || !h.echoed {
		t.Fatalf("setup: p1 does not hold an echoed ticket: %+v", h.watchdogState())
	}
	// p1 ends. p2 reports every second, as it should, for a minute.
	var g Grant
	var stale, ungranted int
	for s := uint64(3); s <= 60; s++ {
		now = now.Add(time.Second)
		r := namedReport("b1", "p2", s, true)
		r.Self.Ticket = x.tickets["p2"]
		x.e.Step(now, r)
		var err error
		g, err = x.e.Grant(now, r)
		if errors.Is(err, ErrStale) {
			stale++
		}
		if err != nil {
			// As agent.Contract does: a process whose reports go
			// ungranted drops its ticket after ungrantedDrop of them,
			// and is placed anew.
			if ungranted++; ungranted >= 3 {
				delete(x.tickets, "p2")
			}
		} else {
			ungranted = 0
		}
		if g.Agent == "p2" && !g.Ticket.IsZero() {
			x.tickets["p2"] = g.Ticket
		}
		x.e.Step(now, AgentReport{Host: "cmp2", Network: "mgmt", Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		x.e.Step(now, AgentReport{Host: "cmp2", Network: "storage", Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		x.e.Step(now, StorageHeartbeats{OK: true})
		x.tick(now)
	}
	fenced := false
	for _, a := range x.acts {
		if a.Kind == ActFence && a.Host == "cmp1" {
			fenced = true
		}
	}
	// Refused as stale (the proof assumes one process at a time) until p2
	// drops the ticket its reports go ungranted with, then placed anew.
	if stale > 3 || !g.Guests || fenced {
		t.Fatalf("HEALTHY HOST LOST: after a brief overlap the running agent process p2 reported for a minute: %d of 58 reports refused as stale, last grant %+v, cmp1 fenced %v (%s)", stale, g, fenced, codes(x.acts))
	}
}

// Finding H7 (guests held; availability): with a controller that writes in
// the background (it ticks every 250 ms and confirms each Ready when its
// etcd transaction commits), a commit slower than rewriteAfter (1 s: an
// etcd under fsync pressure, which warns from 100 ms) is taken for a failed
// write. The record is sent again in a new Ready, and the Persisted for the
// first one, arriving later, no longer matches unsavedIn: nothing is ever
// confirmed while commits stay slower than 1 s, and the host's guests stay
// held with no alert. Persisted's doc does not say a write must be
// confirmed within a second; the code's comment assumes it.
func TestAttack8SlowCommitsNeverConfirm(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	type commit struct {
		ready uint64
		at    time.Time
	}
	var inFlight []commit
	var g Grant
	now := t0
	for s := uint64(1); s <= 120; s++ { // 30 s
		r := armedReport("b1", s)
		r.Self.Ticket = x.tickets["b1"]
		x.e.Step(now, r)
		var err error
		if g, err = x.e.Grant(now, r); err != nil {
			t.Fatal(err)
		}
		if !g.Ticket.IsZero() {
			x.tickets["b1"] = g.Ticket
		}
		for len(inFlight) > 0 && !now.Before(inFlight[0].at) {
			x.e.Step(now, Persisted{Ready: inFlight[0].ready})
			inFlight = inFlight[1:]
		}
		if rd := x.e.Tick(now); len(rd.Records) > 0 {
			inFlight = append(inFlight, commit{rd.Seq, now.Add(1500 * time.Millisecond)})
		}
		now = now.Add(250 * time.Millisecond)
	}
	if !g.Guests {
		t.Fatalf("GUESTS HELD: 30 s of b1 reporting to a leader whose writes all commit, 1.5 s late: its grants still hold its guests (%+v), alerts %q", x.e.hosts["cmp1"].watchdogState(), codes(x.acts))
	}
}

// Finding H8 (double writer by a plausible reading of the restore
// procedure): RestoreSnapshot drops the watchdog beliefs of records whose
// Term is below restoredAt, and keeps those equal to it. "The fencing token
// at the restore", read from the restored store before any new election,
// is the token of the leader that wrote the snapshot's records: their Term
// equals it, and they keep "b1's process armed" (G4b again: the running
// process p2 feeds no watchdog). The API should not depend on which side of
// that equality the operator lands: drop Term <= restoredAt, or define
// restoredAt as the restored store's bumped revision, above every token in
// the snapshot, and say so.
func TestAttack8SnapshotMarkerEqualToSnapshotTerm(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	snapshot := records(x.store)
	now := t0.Add(10 * time.Second) // the agent restarts; p2 opens no watchdog
	for s := uint64(1); s <= 3; s++ {
		x.report(now, namedReport("b1", "p2", s, false))
		now = now.Add(time.Second)
	}
	x.e = watchdogEngine(t)
	x.e.RestoreSnapshot(snapshot, 1) // the token the restored store holds: the snapshot's leader's
	x.e.Step(now, Leadership{Leader: true, Token: 1001})
	if concludesSelfFence(x.e, now) {
		t.Fatal("DOUBLE WRITER: restored with the snapshot's own token as the marker, the snapshot's record kept b1's watchdog armed and vigil counted it as the fence of cmp1, whose running p2 feeds none")
	}
}
