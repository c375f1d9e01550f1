package decision

import (
	"errors"
	"testing"
	"time"
)

// Ninth adversarial review (attack9), against f4f14c5 (a stopped holder
// never re-arms, acks ride with later records, slow commits confirm,
// same-boot staleness lapses with the holder, confirms refuse every boot
// heard lately). Each test fails on the code it was written against.

// Finding I1 (double writer, H1 again): "a stopped holder never re-arms"
// is kept per ticket, not per process. place() clears h.stopped whenever
// it issues a ticket, so a stopping process that loses the ticket and is
// placed anew is no longer "stopped". b1 stops (the ack is on its way);
// a message vigil cannot place arrives (the first report of ended b0,
// sent before it had a ticket, late over a relay) and takes the ticket;
// b1's reports sent while it waits for its ack (armed: it is armed until
// the ack) carry b1's old ticket, which the unechoed b0 ticket cannot
// prove stale, so b1 is placed anew with stopped false, echoes its new
// ticket, and is believed armed. The ack of seq 3 then reaches b1
// (Contract.Acked matches the notice, whatever was granted since) and b1
// disarms and exits. cmp1 is cut off with its BMC: vigil counts b1's
// unfed watchdog as the fence and evacuates while b1 runs its guests.
func TestAttack9StoppedProcessPlacedAnewReArms(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	early := armedReport("b0", 1) // b0's first report: no ticket
	x.report(t0, armedReport("b0", 1))
	now := t0.Add(60 * time.Second) // rebooted into b1
	x.report(now, armedReport("b1", 1))
	x.report(now.Add(time.Second), armedReport("b1", 2))
	now = now.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	x.tick(now)
	if len(x.acks) != 1 || !x.e.hosts["cmp1"].hasStopped("b1", "b1") {
		t.Fatalf("setup: the stop was not taken: acks %v", x.acks)
	}
	// The ack is on its way to b1. Meanwhile:
	delete(x.tickets, "b0")
	x.late(now.Add(100*time.Millisecond), early)
	// b1's report loop runs on while it waits: armed, its old ticket,
	// then the one its grants hand it.
	x.report(now.Add(200*time.Millisecond), armedReport("b1", 4))
	x.report(now.Add(300*time.Millisecond), armedReport("b1", 5))
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" {
		if concludesSelfFence(x.e, now.Add(300*time.Millisecond)) {
			t.Fatalf("DOUBLE WRITER: b1's stop (seq 3) was acknowledged, yet after a late message took the ticket b1 was placed anew and believed armed (%+v); the ack disarms b1 and vigil counted its unfed watchdog as cmp1's fence", x.e.hosts["cmp1"].watchdogState())
		}
		t.Fatalf("DOUBLE WRITER: vigil believes %s armed after acknowledging its stop", b)
	}
}

// Finding I2 (instances held; G7 again, on one boot): same-boot
// staleness now lapses once the holder has been silent for an agent
// timeout, and a host whose holder is silent is exactly the host vigil
// must conclude about. cmp1's agent restarted on b1 (p1, then p2, which
// echoed its ticket and armed the watchdog); cmp1 is then cut off with
// its BMC. A relay keeps delivering reports p1 sent before it ended, each
// carrying p1's older ticket: with p2 silent over 3 s none is stale any
// more. The first places ended p1 anew (a ticket nobody will echo: no
// watchdog counts), every one is a sign of life, and the incident never
// reaches the safe time of p2's watchdog, which has long reset the host.
// Before f4f14c5 these messages were stale.
func TestAttack9SameBootLateMessagesWhileHolderCutOff(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, namedReport("b1", "p1", 40, true))
	now := t0.Add(5 * time.Second) // the agent restarts: p2 takes the armed watchdog over
	x.report(now, namedReport("b1", "p2", 1, true))
	x.report(now.Add(time.Second), namedReport("b1", "p2", 2, true))
	if h := x.e.hosts["cmp1"]; h.tAgent != "p2" || !h.echoed || !h.grantArmed {
		t.Fatalf("setup: p2 is not the armed holder: %+v", h.watchdogState())
	}
	old := x.tickets["p1"]
	now = now.Add(time.Second)
	for i := 0; i < 24; i++ { // cut off: only p1's old messages come through
		now = x.silent(now, 5*time.Second)
		x.replay(now, namedReport("b1", "p1", 39, true), old)
	}
	if st := x.status("cmp1"); st.Fence == nil || st.Fence.Method != "watchdog" {
		t.Fatalf("INSTANCES HELD: 2 minutes after p2 fell silent with its watchdog armed cmp1 is %s, fence %v, belief %+v: ended p1's late messages (same boot, older ticket) were placed anew and kept it looking alive", st.State, st.Fence, x.e.hosts["cmp1"].watchdogState())
	}
}

// Finding I3 (double writer, H3 and H4 together): a confirm refuses the
// boots this leader heard lately and the boot of the record, but a
// successor has heard none, and grantBoot, the record's boot, is what the
// first message it places overwrites. cmp1 ran b1, rebooted into b2
// (placed, echoed), and the leader failed over; cmp1 is cut off with its
// BMC, and b1's first report (no ticket) arrives late at the successor
// over a relay: placed, it names b1 as the host's boot, and b1 is the only
// boot heard. The operator confirms cmp1 off: the fence names b1 and
// refuses nothing else. b2, which was not off after all, is granted again
// when its reports come through, feeds its watchdog and runs its guests
// while vigil evacuates them. The restored record named b2.
func TestAttack9ConfirmAfterFailoverForgetsRecordBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	early := unarmedReport("b1", 1) // b1's first report: no ticket
	x.report(t0, unarmedReport("b1", 40))
	now := t0.Add(80 * time.Second) // rebooted into b2
	x.report(now, unarmedReport("b2", 1))
	x.report(now.Add(time.Second), unarmedReport("b2", 2))
	now = now.Add(2 * time.Second)
	x.failover(now, 2) // cmp1 is cut off with its BMC; the successor never hears b2
	if r := x.store["cmp1"]; r.WatchdogOffBoot != "b2" {
		t.Fatalf("setup: the record does not name b2: %+v", r)
	}
	now = x.silent(now, 10*time.Second)
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
		t.Fatalf("DOUBLE WRITER: after a failover the confirm named boot %s and refused %v (a late message of ended b1 overwrote the record's b2); b2, still running, got a grant (err %v) instead of being refused", st.Fence.BootID, st.Fence.Refuse, err)
	}
}

// Finding I4 (double writer, the store's side of I1): an ack rides with a
// later record that does not carry the disarm it acknowledges. b1's stop
// is taken, and the Ready with its disarm and ack fails to write. Before
// the rewrite, b0's late first report takes the ticket: the next record
// names b0 (no watchdog counted, nothing of b1's stop), and b1's ack rides
// with it (ackOut): written, the ack goes out, and b1 disarms. The leader
// fails over. The successor's store never said b1 stopped: a report b1
// sent while it waited for the ack (armed, its old ticket) arrives late,
// is placed anew, and b1, still running its last seconds, echoes it.
// vigil believes b1 armed; b1 has disarmed.
func TestAttack9AckRidesWithRecordWithoutTheDisarm(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	early := armedReport("b0", 1) // b0's first report: no ticket
	x.report(t0, armedReport("b0", 1))
	now := t0.Add(60 * time.Second) // rebooted into b1
	x.report(now, armedReport("b1", 1))
	x.report(now.Add(time.Second), armedReport("b1", 2))
	now = now.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	if rd := x.e.Tick(now); len(rd.Acks) != 1 { // the write fails: the ack is dropped with it
		t.Fatalf("setup: the stop emitted acks %v", rd.Acks)
	}
	delete(x.tickets, "b0")
	x.late(now.Add(300*time.Millisecond), early) // written, with b1's ack
	acked := false
	for _, a := range x.acks {
		acked = acked || a.Agent == "b1" && a.Seq == 3
	}
	if !acked {
		t.Fatalf("setup: b1's stop was not acknowledged: %v", x.acks)
	}
	withAck := x.store["cmp1"]
	now = now.Add(time.Second)
	x.failover(now, 2)
	// b1's report sent before the ack arrived, then its echo.
	x.report(now, armedReport("b1", 4))
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" {
		if concludesSelfFence(x.e, now) {
			t.Fatalf("DOUBLE WRITER: b1's stop was acknowledged with a record that did not say so (agent %q ticket %v stopped %v); after a failover b1 was placed anew and its unfed watchdog counted as cmp1's fence", withAck.WatchdogAgent, withAck.WatchdogTicket, withAck.WatchdogStopped)
		}
		t.Fatalf("DOUBLE WRITER: the successor believes %s armed after its stop was acknowledged", b)
	}
}

// Finding I5 (double writer, I1 by a restore; the reordering checker with
// slow acks found it, seed 1796312464): no record can keep a stop that a
// restore from a snapshot forgets. b1's stop is written and acknowledged;
// the ack is on its way. The store is then restored from a snapshot taken
// before the stop (RestoreSnapshot drops its watchdog belief, as it
// should), and b1's reports sent while it waits for the ack (armed) reach
// the new leader: placed anew, echoed, armed. The ack then arrives and b1
// disarms. "No watchdog counts until the running process echoes a ticket
// issued after the restore" assumes that process is not stopping: only
// its messages can say that it is (a report after a stop notice should
// carry it, and never arm).
func TestAttack9RestoreForgetsStopWhileAckInFlight(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	snapshot := records(x.store)
	now := t0.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	x.tick(now)
	if len(x.acks) != 1 {
		t.Fatalf("setup: the stop was not acknowledged: %v", x.acks)
	}
	now = now.Add(time.Second)
	x.e = watchdogEngine(t)
	x.e.RestoreSnapshot(snapshot, 1000)
	x.e.Step(now, Leadership{Leader: true, Token: 1001})
	r := armedReport("b1", 4) // sent while b1 waits for its ack: it says so (agent.Contract)
	r.Self.Stopping = true
	x.report(now, r)
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" && concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: after a restore from a snapshot b1, stopping, echoed a new ticket and was believed armed (%+v); the ack of its stop, already sent, disarms it, and vigil counted its unfed watchdog as cmp1's fence", x.e.hosts["cmp1"].watchdogState())
	}
}

// Finding I6 (double writer; a live process exploits the same-boot lapse,
// the reordering checker's overlap with slow acks found it, seeds
// 1796330964, 1796349395): H6's premise, an old process p1 whose shutdown
// hangs while its report loop runs on, after it closed the device without
// the magic close (Watchdog.Abandon: the exit path) so that p2 could open
// it. p1's contract still says armed (only Acked changes it). p2 holds the
// ticket, echoed, armed, and stops cleanly (a rolling update that goes on);
// its ack is on its way. p2 no longer reports: after an agent timeout p1's
// messages, with their older ticket, are no longer stale, p1 is placed
// anew, echoes and is believed armed. p2's ack arrives: the magic close
// disarms the device, p1 exits. vigil counts a watchdog nobody holds.
// Before f4f14c5 p1 stayed stale behind p2's echoed ticket.
func TestAttack9HungOldProcessTakesOverAfterStop(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, namedReport("b1", "p1", 40, true))
	now := t0.Add(time.Second) // p1 abandons the device; p2 opens it
	x.report(now, namedReport("b1", "p2", 1, true))
	x.report(now.Add(time.Second), namedReport("b1", "p2", 2, true))
	now = now.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "p2", 3)
	x.tick(now)
	if len(x.acks) != 1 {
		t.Fatalf("setup: p2's stop was not acknowledged: %v", x.acks)
	}
	// p1's report loop runs on (its shutdown hangs); its contract says armed.
	now = now.Add(4 * time.Second)
	x.report(now, namedReport("b1", "p1", 41, true))
	x.report(now.Add(time.Second), namedReport("b1", "p1", 42, true))
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" && concludesSelfFence(x.e, now.Add(time.Second)) {
		t.Fatalf("DOUBLE WRITER: after p2's acknowledged stop the hung old process p1 was placed anew and believed armed (%+v); p2's ack disarms the one device, p1 exits, and vigil counted it as cmp1's fence", x.e.hosts["cmp1"].watchdogState())
	}
}

// Finding I7 (double writer; H7's rule confirms what was not written): a
// Persisted for any Ready in [unsavedFirst, unsavedIn] confirms the state,
// also one that did not carry the host's record. cmp1 rebooted from b1
// (armed, written) into b2, whose agent has no watchdog: b2 is placed
// (ticket T2) and the Ready R1 with that record fails. Ready Rk carries
// only cmp2's record and commits slowly (the background controller of
// H7); at the 1 s rewrite R2 carries cmp1's record again, and fails too.
// Rk's confirmation then arrives: R1 <= Rk <= R2, and cmp1's T2 counts as
// written. Its grant hands b2 its ticket and lets guests start, while the
// store still says b1's process is armed. The leader fails over, cmp1 is
// cut off with its BMC, and the successor counts b1's watchdog as the
// fence of a host whose b2 runs guests with none.
func TestAttack9ConfirmOfAnotherReadyCountsUnwritten(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	if r := x.store["cmp1"]; r.WatchdogBoot != "b1" {
		t.Fatalf("setup: b1 is not recorded armed: %+v", r)
	}
	now := t0.Add(60 * time.Second) // rebooted into b2: no watchdog
	b2 := unarmedReport("b2", 1)
	x.e.Step(now, b2)
	if _, err := x.e.Grant(now, b2); err != nil {
		t.Fatal(err)
	}
	x.e.Tick(now) // R1: the write fails
	now = now.Add(250 * time.Millisecond)
	c := AgentReport{Host: "cmp2", Network: "mgmt", Self: SelfReport{BootID: "x", Agent: "q1", Seq: 1, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
	x.e.Step(now, c)
	if _, err := x.e.Grant(now, c); err != nil {
		t.Fatal(err)
	}
	rk := x.e.Tick(now) // Rk: cmp2's record, committing slowly
	if len(rk.Records) != 1 || rk.Records[0].Host != "cmp2" {
		t.Fatalf("setup: Rk carries %+v", rk.Records)
	}
	now = now.Add(time.Second)
	if r2 := x.e.Tick(now); len(r2.Records) == 0 { // R2: cmp1's rewrite; it fails too
		t.Fatal("setup: no rewrite of cmp1's record")
	}
	x.e.Step(now, Persisted{Ready: rk.Seq}) // Rk commits
	b2.Self.Seq = 2
	x.e.Step(now, b2)
	g, err := x.e.Grant(now, b2)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Guests && g.Ticket.IsZero() {
		return
	}
	x.failover(now, 2) // the store: b1's process armed
	if concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: a confirmation of Ready %d (cmp2's record only) counted cmp1's unwritten placement of b2 as written: b2 got ticket %v and guests %v; the store still said b1 armed, and the successor counted b1's watchdog as the fence of cmp1, whose b2 runs guests with none", rk.Seq, g.Ticket, g.Guests)
	}
	t.Fatalf("unwritten placement counted as written (b2 got ticket %v, guests %v) while the store says %+v", g.Ticket, g.Guests, x.store["cmp1"])
}

// replay delivers a copy of a message an ended agent process sent while it
// held ticket t (a relay's queue, a duplicate): unlike late, it never
// carries a ticket handed out since.
func (x *a4) replay(at time.Time, r AgentReport, t Ticket) {
	r.Self.Ticket = t
	x.e.Step(at, r)
	_, _ = x.e.Grant(at, r) // answered or refused: nobody takes the grant
	x.tick(at)
}
