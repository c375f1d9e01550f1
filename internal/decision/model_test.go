package decision

import (
	"testing"
	"time"
)

// The Spin model of tickets (model/tickets.pml) with Unwritten: a stop's
// disarm and ack go out in a Ready whose write fails; the controller steps
// Unwritten (controller.Loop does on every write error), and the next Ready,
// which carries the record again, commits. The stopping agent still waits
// for its ack: the engine must send it with that record, or no later Ready
// ever does, and the agent exits with its watchdog running (a healthy host
// reset).
func TestModelAckDueAgainAfterUnwritten(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	now := t0.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	failed := x.e.Tick(now) // the write fails: no ack goes out
	if len(failed.Acks) != 1 || len(failed.Records) == 0 {
		t.Fatalf("setup: the stop's Ready carries acks %v, records %d", failed.Acks, len(failed.Records))
	}
	x.e.Step(now, Unwritten{Ready: failed.Seq, Hosts: []string{"cmp1"}})
	for i := 0; i < 5; i++ {
		now = now.Add(time.Second)
		x.tick(now)
	}
	if len(x.acks) == 0 {
		t.Fatalf("ACK LOST: the Ready with b1's disarm and ack failed and was reported Unwritten; the record was written again (store %+v), but the ack never went out: b1 exits without it, its watchdog running", x.store["cmp1"])
	}
}

// The Spin model of tickets (model/tickets.pml), with reports that say
// Stopping and a store restored from a snapshot: b1 reports (seq 1) and
// stops (seq 2); the disarm is written and the ack goes out. The store is
// restored from a snapshot taken before the stop (its stop list is empty).
// At the new leader, b1's seq-1 report, late, places it anew; b1, waiting
// for its ack, reports again (seq 3, Stopping) and echoes its new ticket.
// The ack arrives and b1 disarms. Another copy of the seq-1 report (armed,
// sent before the notice) arrives: b1 is the holder, seq 1 is not older
// than the holder's last word (a Stopping report moves no sequence number),
// and b1 is not on the stop list, so vigil believes b1 armed.
func TestModelLateReportAfterStoppingEcho(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	snapshot := records(x.store)
	now := t0.Add(time.Second)
	x.stop(now, "cmp1", "b1", "b1", 2)
	x.tick(now)
	if len(x.acks) != 1 {
		t.Fatalf("setup: the stop was not acknowledged: %v", x.acks)
	}
	now = now.Add(time.Second)
	x.e = watchdogEngine(t)
	x.e.RestoreSnapshot(snapshot, 1000)
	x.e.Step(now, Leadership{Leader: true, Token: 1001})
	x.replay(now, armedReport("b1", 1), Ticket{}) // placed anew
	x.late(now, armedReport("b1", 1))             // handed the new ticket
	r := armedReport("b1", 3)                     // sent while b1 waits for its ack
	r.Self.Stopping = true
	x.late(now, r)
	if h := x.e.hosts["cmp1"]; !h.echoed {
		t.Fatalf("setup: b1 did not echo its new ticket: %+v", h.watchdogState())
	}
	// The ack of seq 2 reaches b1: it disarms. A copy of seq 1 arrives.
	x.replay(now, armedReport("b1", 1), Ticket{})
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" {
		t.Fatalf("DOUBLE WRITER: after a restore from a snapshot, b1's Stopping report echoed its new ticket and a late copy of its report from before the stop notice armed it (%+v); the ack already sent disarms b1, and vigil counts its unfed watchdog as cmp1's fence", x.e.hosts["cmp1"].watchdogState())
	}
}
