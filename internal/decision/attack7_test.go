package decision

import (
	"errors"
	"testing"
	"time"
)

// Seventh adversarial review (attack7), against 6a7a1eb (tickets). Each test
// failed on the code it was written against; the commit that fixes a class
// says so.

// namedReport is a report of cmp1's agent process agent on boot.
func namedReport(boot, agent string, seq uint64, armed bool) AgentReport {
	r := armedReport(boot, seq)
	r.Self.Agent, r.Self.WatchdogArmed = agent, armed
	return r
}

// Finding G1 (double writer): the holder of the ticket was recognised by
// its agent name alone. An agent that names itself the same on every boot
// (an old or a third-party agent, or a name kept in a state file that
// survived the reboot) makes its new boot's first report the holder's
// newest word, and its sequence number, which starts again at 1, is older
// than the old boot's: the report that says "no watchdog" moved nothing.
// vigil still believed b1 armed while b2 ran without a watchdog; cut off
// with its BMC, cmp1 was counted as reset by its watchdog.
func TestAttack7AgentNameAcrossBoots(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, namedReport("b1", "cmp1-agent", 40, true))
	x.report(t0.Add(time.Second), namedReport("b1", "cmp1-agent", 41, true))
	now := t0.Add(90 * time.Second) // rebooted: b2's watchdog did not open
	for s := uint64(1); s <= 3; s++ {
		x.report(now, namedReport("b2", "cmp1-agent", s, false))
		now = now.Add(time.Second)
	}
	if concludesSelfFence(x.e, now) {
		t.Fatal("DOUBLE WRITER: vigil counted b1's watchdog as the fence of cmp1, which runs b2 without one (the same agent name on both boots)")
	}
}

// Finding G2 (double writer): a clean-stop notice of the boot vigil already
// counts as reset by its watchdog was acknowledged. Grant refuses that boot
// (ErrBootFenced), but stopping did not: the ack disarms the watchdog of a
// boot whose instances are being started elsewhere, so it runs on with them.
func TestAttack7FencedBootStopRefused(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	now := t0.Add(time.Second)
	if !concludesSelfFence(x.e, now) {
		t.Fatal("setup: cmp1 silent with its watchdog armed was not counted as self-fenced")
	}
	now = now.Add(61 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	x.tick(now)
	if len(x.acks) != 0 {
		t.Fatalf("DOUBLE WRITER: the stop notice of boot b1, counted as reset by its watchdog, was acknowledged (%v): its agent disarms and the boot runs on next to the copies of its guests", x.acks)
	}
	if !x.alerted("fenced-boot-answers") {
		t.Fatalf("a boot counted as reset answered with a stop notice and nobody was told: %s", codes(x.acts))
	}
}

// Finding G3 (double writer): a stale message counted as the host's word.
// Step took every agent report as the host's self-report, so a late message
// of an ended agent process (boot b1, delayed in a relay) replaced what
// vigil knew of the running boot b2. An operator's confirm then named b1 as
// the boot that is off: when b2, which the operator had wrongly believed
// off, asked for grants again it was granted (it is not the confirmed boot)
// and went on running its guests next to their copies, where naming b2
// makes vigil refuse it and its watchdog reset it.
func TestAttack7ConfirmNamesRunningBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 40))
	now := t0.Add(80 * time.Second) // rebooted into b2, whose watchdog did not open
	x.report(now, unarmedReport("b2", 1))
	x.report(now.Add(time.Second), unarmedReport("b2", 2))
	if h := x.e.hosts["cmp1"]; !h.echoed || h.tAgent != "b2" {
		t.Fatalf("setup: b2 does not hold an echoed ticket: %+v", h.watchdogState())
	}
	// cmp1 is cut off with its BMC: held, its fence failing.
	now = x.silent(now.Add(time.Second), 30*time.Second)
	if st := x.status("cmp1"); st.Fence != nil || st.State != Fencing {
		t.Fatalf("setup: cmp1 is %v (fence %v), want held unfenced", st.State, st.Fence)
	}
	x.late(now, armedReport("b1", 39)) // sent before the reboot, arriving now
	x.e.Step(now, Confirm{Host: "cmp1", By: "ops"})
	x.tick(now)
	if st := x.status("cmp1"); st.Fence == nil || st.Fence.Method != "operator" {
		t.Fatalf("setup: the confirm was not taken: %+v %s", st, codes(x.acts))
	}
	r := unarmedReport("b2", 3)
	r.Self.Ticket = x.tickets["b2"]
	now = now.Add(time.Second)
	x.e.Step(now, r)
	if _, err := x.e.Grant(now, r); !errors.Is(err, ErrBootFenced) {
		t.Fatalf("DOUBLE WRITER: the operator confirmed cmp1 off, but the confirm named the boot of a stale message (%s); b2, still running, got a grant (err %v) instead of being refused", x.status("cmp1").Fence.BootID, err)
	}
}

// silent plays d of cmp1 saying nothing while cmp2 and the storage
// heartbeats are well and every fence of cmp1 fails (its BMC is cut off
// with it). It returns the time it ended.
func (x *a4) silent(now time.Time, d time.Duration) time.Time {
	end := now.Add(d)
	for ; now.Before(end); now = now.Add(250 * time.Millisecond) {
		for _, net := range []string{"mgmt", "storage"} {
			x.e.Step(now, AgentReport{Host: "cmp2", Network: net, Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		}
		x.e.Step(now, StorageHeartbeats{OK: true})
		for _, a := range x.tick(now).Actions {
			if a.Kind == ActFence {
				x.e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Err: "BMC unreachable"})
			}
		}
	}
	return now
}

func (x *a4) status(host string) HostStatus {
	for _, st := range x.e.Status() {
		if st.Name == host {
			return st
		}
	}
	x.t.Fatalf("no host %s", host)
	return HostStatus{}
}

// Finding G4 (double writer): the stale rule ignored the ticket's order.
// The store was restored from a snapshot (etcd's disaster recovery) taken
// before the running agent process p2 got its ticket: the record names b1's
// process and ticket 1.1, echoed and armed. p2 carries ticket 1.2, which no
// record holds, and feeds no watchdog (it could not open the device). Every
// message of p2 was taken for a message of a process older than the
// holder, so vigil kept believing b1's process armed, and counted cmp1,
// cut off with its BMC, as reset by a watchdog nobody fed.
func TestAttack7RestoredSnapshotDoesNotLockOutRunningProcess(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	snapshot := map[string]Record{}
	for k, v := range x.store {
		snapshot[k] = v
	}
	now := t0.Add(10 * time.Second) // the agent restarts; p2 opens no watchdog
	for s := uint64(1); s <= 3; s++ {
		x.report(now, namedReport("b1", "p2", s, false))
		now = now.Add(time.Second)
	}
	if x.tickets["p2"].IsZero() {
		t.Fatal("setup: p2 holds no ticket")
	}
	x.store = snapshot
	x.failover(now, 2)
	for s := uint64(4); s <= 8; s++ {
		x.report(now, namedReport("b1", "p2", s, false))
		now = now.Add(time.Second)
	}
	if concludesSelfFence(x.e, now) {
		t.Fatal("DOUBLE WRITER: after a restore from an older snapshot vigil took p2 (no watchdog, a ticket the snapshot does not hold) for an ended process, and counted b1's watchdog as the fence of cmp1")
	}
}

// Finding G4b (double writer, G4's other half): the ordered stale rule lets
// the running process be placed again once it speaks, but a host cut off
// when the store is restored never speaks: the snapshot's record still
// believed b1's process armed, and a successor counted cmp1 as reset by a
// watchdog nobody fed. Records written before the restore (Record.Term
// below the token at the restore) keep their incidents but lose what they
// say of the watchdog (RestoreSnapshot).
func TestAttack7SnapshotForgetsWatchdogBelief(t *testing.T) {
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
	// cmp1 is cut off; the store is restored from the snapshot, its
	// revision bumped, and a controller leads from it.
	x.e = watchdogEngine(t)
	x.e.RestoreSnapshot(snapshot, 1001)
	x.e.Step(now, Leadership{Leader: true, Token: 1001})
	if concludesSelfFence(x.e, now) {
		t.Fatal("DOUBLE WRITER: after a restore from a snapshot vigil counted b1's watchdog, armed in the snapshot, as the fence of cmp1, whose running agent process p2 feeds none")
	}
	// Without the restore marker the same records are believed.
	x.e = watchdogEngine(t)
	x.e.Restore(snapshot)
	x.e.Step(now, Leadership{Leader: true, Token: 1001})
	if !concludesSelfFence(x.e, now) {
		t.Fatal("setup: the snapshot's record does not make a plain Restore count b1's watchdog")
	}
}

// Finding G5 (guests held; availability): a record whose write failed was
// sent again only when a later Ready was confirmed. In a quiet cluster no
// other record is written: the host's guests stayed held for good behind a
// write nobody retried.
func TestAttack7FailedWriteRetriedInQuietCluster(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	r := armedReport("b1", 1)
	x.e.Step(t0, r)
	if _, err := x.e.Grant(t0, r); err != nil {
		t.Fatal(err)
	}
	if rd := x.e.Tick(t0); len(rd.Records) == 0 { // the write fails: no Persisted
		t.Fatal("setup: the new ticket wrote no record")
	}
	var g Grant
	now := t0
	for s := uint64(2); s <= 20; s++ {
		now = now.Add(time.Second)
		g = x.report(now, armedReport("b1", s))
	}
	if !g.Guests {
		t.Fatalf("GUESTS HELD: 19 s after one failed write cmp1's grants still hold its guests (record never written again): %+v", x.e.hosts["cmp1"].watchdogState())
	}
}

// Finding G6 (needless host reset; availability): a clean stop's ack goes
// out with the record of the disarm, and is dropped when that write fails.
// The record was written again, the ack never: the agent waited for it
// until its watchdog reset a healthy host (an upgrade, a restart).
func TestAttack7AckResentWithRecord(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 1))
	x.report(t0.Add(time.Second), armedReport("b1", 2))
	now := t0.Add(2 * time.Second)
	x.stop(now, "cmp1", "b1", "b1", 3)
	if rd := x.e.Tick(now); len(rd.Acks) != 1 || len(rd.Records) == 0 { // the write fails: the ack is dropped with it
		t.Fatalf("setup: the stop emitted acks %v records %d", rd.Acks, len(rd.Records))
	}
	for i := 0; i < 10; i++ {
		now = now.Add(500 * time.Millisecond)
		x.tick(now)
	}
	if len(x.acks) != 1 {
		t.Fatalf("HEALTHY HOST RESET: the disarm's write failed once and its ack was never sent again (acks %v): the stopping agent's watchdog resets cmp1", x.acks)
	}
}

// Finding G7 (instances held; availability): a stale message was taken for
// a sign of life. cmp1 rebooted from b1 into b2 and was then cut off with
// its BMC; a relay kept delivering messages b1's agent had sent before the
// reboot. Each one made the host look alive: its incident never reached the
// watchdog's safe time, and its instances stayed held while b2's watchdog
// had long reset it.
func TestAttack7StaleMessagesAreNoSignOfLife(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 40))
	now := t0.Add(80 * time.Second) // rebooted into b2
	x.report(now, armedReport("b2", 1))
	x.report(now.Add(time.Second), armedReport("b2", 2))
	now = now.Add(time.Second)
	for i := 0; i < 24; i++ { // cut off: only b1's old messages come through
		now = x.silent(now, 5*time.Second)
		x.late(now, armedReport("b1", 39))
	}
	if st := x.status("cmp1"); st.Fence == nil || st.Fence.Method != "watchdog" {
		t.Fatalf("INSTANCES HELD: 2 minutes after b2 fell silent with its watchdog armed cmp1 is %s, fence %v: ended b1's late messages kept it looking alive", st.State, st.Fence)
	}
}

// A storage fence by a fence agent (fence_scsi) is a storage fence to the
// engine: a kdump level with one is not undone by the BMC reading the
// dumping host on, and a fence_scsi level alone not by its agent answering.
// Before fence methods carried a fence agent's kind, "fence-agent" counted
// as power, and the dump's BMC reading stopped the evacuation.
func TestFenceAgentKinds(t *testing.T) {
	for _, tc := range []struct {
		method         string
		power, storage bool
	}{
		{"fence-agent", true, false},
		{"fence-agent-storage", false, true},
		{"ceph-blocklist+fence-agent-storage", false, true},
		{"kdump+fence-agent-storage", false, false},
		{"fence-agent-io", false, false},
	} {
		if p, s := powerFence(tc.method), storageOnly(tc.method); p != tc.power || s != tc.storage {
			t.Errorf("%s: power %v storage-only %v, want %v %v", tc.method, p, s, tc.power, tc.storage)
		}
	}
}

// Finding G8 (guests held a round trip longer than safety needs): a new
// agent process's guests waited for it to echo its ticket, although what
// the gate protects is the record: once vigil has written that this
// process, which has not echoed, holds the ticket, no successor counts any
// watchdog of the host, and starting guests is safe. The extra round trip
// is a report interval during which a host restarted after an isolation
// cannot start its guests (and, cut off again, keeps them refused).
func TestAttack7GuestsNeedOnlyTheWrite(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	g1 := x.late(t0, armedReport("b1", 1)) // issued; its record written by the tick
	if g1.Guests {
		t.Fatal("guests before the record of the new ticket was written")
	}
	g2 := x.late(t0.Add(time.Second), armedReport("b1", 2)) // hands the ticket out
	if g2.Ticket.IsZero() || !g2.Guests {
		t.Fatalf("GUESTS HELD: the record placing b1 is written, yet its grant (%+v) holds its guests until it echoes", g2)
	}
}

// Finding G9 (told nobody): two agent processes of one host both running
// (a package install beside Kolla's container) ping-ponged tickets before
// tickets were ordered; now the older one is ignored as stale once the
// newer echoes, and vigil must say so: the ignored one still runs, and an
// operator must stop it.
func TestAttack7TwoLiveAgentsAlert(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, namedReport("b1", "pA", 1, true))
	x.report(t0.Add(time.Second), namedReport("b1", "pB", 1, true))
	now := t0.Add(2 * time.Second)
	for s := uint64(2); s <= 8; s++ {
		x.report(now, namedReport("b1", "pA", s, true))
		x.report(now, namedReport("b1", "pB", s, true))
		now = now.Add(time.Second)
	}
	if h := x.e.hosts["cmp1"]; h.tAgent != "pB" || !h.echoed {
		t.Fatalf("the newer process pB is not the holder: %+v", h.watchdogState())
	}
	if !x.alerted("agent-duplicate") {
		t.Fatalf("two agent processes of cmp1 keep reporting and nobody was told: %s", codes(x.acts))
	}
}
