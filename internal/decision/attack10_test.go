package decision

import (
	"errors"
	"testing"
	"time"
)

// Tenth adversarial review (attack10), against f57739d (stops remembered
// per process, Stopping in every message, ticket drop, confirms only by the
// Readies that carried the state, the record's boot heard at the election,
// watchdog timeouts checked, GuestsUnknown). Each test fails on the code it
// was written against.

// Finding L1 (double writer, H4 after an hour): a confirm refuses the boot
// last heard and the boots heard in the last hour, and the boot the record
// names (grantBoot). A late first word of an ended boot overwrites both:
// place() makes its boot grantBoot, and its message is the last heard. So
// once the running boot was last heard over an hour before the confirm, it
// is refused by nothing. cmp1 ran b1, rebooted into b2 (placed, echoed) and
// was cut off with its BMC at night; b1's first report arrived late over a
// relay; in the morning, 61 minutes on, an operator confirms cmp1 off. The
// fence names b1 and refuses nothing else; b2, not off after all, is
// granted when its reports come through and runs its guests while vigil
// evacuates them. (Eight late first words of eight older boots do the same
// within the hour: bootsMax evicts the running boot, heard before them.)
func TestAttack10ConfirmAfterAnHourForgetsRunningBoot(t *testing.T) {
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
	now = x.silent(now.Add(time.Second), 10*time.Second)
	b1 := x.tickets["b1"]
	delete(x.tickets, "b1")
	x.late(now, early)
	x.tickets["b1"] = b1
	now = x.silent(now, 61*time.Minute)
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
		t.Fatalf("DOUBLE WRITER: an hour after cmp1 fell silent the confirm named boot %s and refused %v (a late first word of ended b1 replaced b2 as the boot last heard and as the record's); b2, still running, got a grant (err %v) instead of being refused", st.Fence.BootID, st.Fence.Refuse, err)
	}
}

// Finding L2 (double writer, L1 within the hour): the boots heard are kept
// by count (bootsMax, 8), the oldest heard evicted first. cmp1 rebooted
// often (a kernel crash loop, say) and runs b9 (placed, echoed) when it is
// cut off with its BMC; a relay then delivers the first words of eight of
// its earlier boots, late. Each is heard after b9, so b9 is the one
// evicted, and the confirm half a minute later refuses b1 … b8 and names
// b8: b9, still running, is granted.
func TestAttack10LateBootsEvictRunningBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	now := t0
	var early []AgentReport
	for i := 1; i <= 9; i++ {
		b := string(rune('0' + i))
		early = append(early, unarmedReport("b"+b, 1))
		x.report(now, unarmedReport("b"+b, 1))
		x.report(now.Add(time.Second), unarmedReport("b"+b, 2))
		now = now.Add(80 * time.Second)
	}
	if h := x.e.hosts["cmp1"]; !h.echoed || h.tAgent != "b9" {
		t.Fatalf("setup: b9 does not hold an echoed ticket: %+v", h.watchdogState())
	}
	now = x.silent(now, 10*time.Second)
	for _, r := range early[:8] {
		tk := x.tickets[r.Self.Agent]
		delete(x.tickets, r.Self.Agent)
		x.late(now, r)
		x.tickets[r.Self.Agent] = tk
		now = now.Add(100 * time.Millisecond)
	}
	now = x.silent(now, 30*time.Second)
	x.e.Step(now, Confirm{Host: "cmp1", By: "ops"})
	x.tick(now)
	st := x.status("cmp1")
	if st.Fence == nil || st.Fence.Method != "operator" {
		t.Fatalf("setup: the confirm was not taken: %+v %s", st, codes(x.acts))
	}
	r := unarmedReport("b9", 3)
	r.Self.Ticket = x.tickets["b9"]
	now = now.Add(time.Second)
	x.e.Step(now, r)
	if _, err := x.e.Grant(now, r); !errors.Is(err, ErrBootFenced) {
		t.Fatalf("DOUBLE WRITER: eight late first words of ended boots evicted the running b9 from the boots heard; the confirm named %s and refused %v, and b9, still running, got a grant (err %v) instead of being refused", st.Fence.BootID, st.Fence.Refuse, err)
	}
}

// Finding L3 (double writer, H3 by a restore): the leader counts the boot
// its record names as heard at its election (attack9 I3), but a store
// restored from a snapshot loses that name: RestoreSnapshot drops what the
// snapshot's records say of the watchdog, boot included, so a leader after
// a restore that has not heard the host yet names no boot and refuses none
// (Fence.BootID "", no Refuse: selfFence ignores the fence). cmp1 runs b1
// (placed, echoed; the snapshot has it); etcd is restored from that
// snapshot while cmp1 is cut off with its BMC; an operator confirms cmp1
// off; b1, not off after all, is granted when it comes back. The boot is
// no watchdog belief: it could be kept for the confirm.
func TestAttack10ConfirmAfterSnapshotRestoreNamesNoBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, unarmedReport("b1", 1))
	x.report(t0.Add(time.Second), unarmedReport("b1", 2))
	snapshot := records(x.store)
	if r := x.store["cmp1"]; r.WatchdogOffBoot != "b1" {
		t.Fatalf("setup: the snapshot does not name b1: %+v", r)
	}
	now := t0.Add(2 * time.Second)
	x.e = watchdogEngine(t)
	x.e.RestoreSnapshot(snapshot, 1000)
	x.e.Step(now, Leadership{Leader: true, Token: 1001})
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
		t.Fatalf("DOUBLE WRITER: after a restore from a snapshot that named b1 the confirm named boot %q and refused %v; b1, still running, got a grant (err %v) instead of being refused", st.Fence.BootID, st.Fence.Refuse, err)
	}
}

// Finding L4 (double writer): a watchdog counts only when the report that
// armed it says timeouts within Config's (watchdogCounts), but the record
// does not say which timeouts it was counted with, and a successor
// restores the armed belief and counts it with its own, shorter, safe time.
// The operator shortens self_fence (isolation 10 s → 5 s, watchdog 30 s →
// 10 s, assume_dead_after 46 s → 22 s) and restarts the controllers one by
// one; cmp1's agent, not restarted yet, still feeds its watchdog on the old
// timeouts, which the old leader counted. cmp1 is cut off with its BMC as
// the new leader takes over: it concludes 22 s after its election, while
// cmp1's agent feeds until its report + 10 s and the device resets it 30 s
// after the last feed, up to 40 s after the old leader's last grant.
func TestAttack10RestoredArmedBeliefSkipsTimeoutCheck(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := &a4{t: t, store: map[string]Record{}, tickets: map[string]Ticket{}}
	engine := func(iso, wd, after time.Duration) *Engine {
		cfg := DefaultConfig()
		cfg.SelfFenceAfter, cfg.IsolationTimeout, cfg.WatchdogTimeout = after, iso, wd
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.AddHost(HostInfo{Name: "cmp1"})
		e.AddHost(HostInfo{Name: "cmp2"})
		return e
	}
	x.e = engine(10*time.Second, 30*time.Second, 46*time.Second)
	x.e.Step(t0, Leadership{Leader: true, Token: 1})
	old := func(seq uint64) AgentReport {
		r := armedReport("b1", seq)
		r.Self.IsolationTimeout, r.Self.WatchdogTimeout = 10*time.Second, 30*time.Second
		return r
	}
	x.report(t0, old(1))
	x.report(t0.Add(time.Second), old(2))
	if !x.e.hosts["cmp1"].grantArmed {
		t.Fatal("setup: the old leader does not count cmp1's watchdog")
	}
	lastGrant := t0.Add(time.Second)
	now := lastGrant.Add(100 * time.Millisecond) // cut off; the new leader takes over
	x.e = engine(5*time.Second, 10*time.Second, 22*time.Second)
	x.e.Restore(records(x.store))
	x.e.Step(now, Leadership{Leader: true, Token: 2})
	end := lastGrant.Add(10*time.Second + 30*time.Second) // the latest reset
	for ; now.Before(end); now = x.silent(now, time.Second) {
		if st := x.status("cmp1"); st.Fence != nil && st.Fence.Method == "watchdog" {
			t.Fatalf("DOUBLE WRITER: the new leader counted cmp1 reset by its watchdog %v after the last grant (%s), but the agent feeds on the old timeouts (10 s + 30 s): its guests may run until %v; the record kept the armed belief, not the timeouts it was counted with", now.Sub(lastGrant), st.Fence.Proof, end.Sub(lastGrant))
		}
	}
}

// Finding L5 (a healthy host's storage cut, nobody told): a renewal of a
// blocklist fence re-adds any entry it finds gone (executor.Renew), and the
// engine lifts the fence at a clean rejoin without waiting for the renewal
// in flight; the renewal's result then finds no incident and is dropped
// (renewResult). An executor that carries the unfence out before the slow
// renewal (its Ceph monitors answer slowly) leaves the rejoined, healthy
// host blocklisted: its guests' writes fail, and the result that says the
// entry was found gone and added again alerts nobody and unfences nothing.
func TestAttack10RenewalInFlightOutlivesRejoin(t *testing.T) {
	e, err := New(autoRejoin())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(HostInfo{Name: h})
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(t0, Leadership{Leader: true, Token: 1})
	renewing := false
	unfencedAt := time.Duration(-1)
	for at := time.Duration(0); at < 15*time.Minute; at += 500 * time.Millisecond {
		now := t0.Add(at)
		back := at > 11*time.Minute // cmp1 answers again, running none of its old guests
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			if hn == "cmp1" && at > 15*time.Second && !back {
				continue
			}
			for _, net := range []string{"mgmt", "storage"} {
				e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": 1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		if at <= 15*time.Second {
			e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		} else {
			e.Step(now, NovaService{Host: "cmp1", Up: back, ForcedDown: true})
			e.Step(now, NovaService{Host: "cmp2", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		}
		if renewing && at == 14*time.Minute && unfencedAt >= 0 {
			// The slow renewal ends after the unfence: the entry was
			// gone (the unfence removed it) and it added it again.
			e.Step(now, RenewResult{Host: "cmp1", OK: true, Lapsed: true, Err: "no entry for 10.0.1.1: added"})
			renewing = false
			for at2 := at; at2 < at+5*time.Second; at2 += 500 * time.Millisecond {
				for _, a := range e.Tick(t0.Add(at2)).Actions {
					if a.Kind == ActUnfence || a.Kind == ActAlert && a.Host == "cmp1" {
						return // lifted again, or somebody is told
					}
				}
			}
			t.Fatalf("STORAGE CUT: cmp1 rejoined at +%v and its blocklist was lifted while a renewal was in flight; the renewal came back having added the entry again, and nothing unfenced cmp1 or told anyone: its guests cannot write", unfencedAt)
		}
		for _, a := range e.Tick(now).Actions {
			switch a.Kind {
			case ActFence:
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ceph-blocklist", Proof: "blocklisted"})
			case ActEvacuate:
				for _, in := range a.Instances {
					e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
				}
			case ActRenewFence:
				renewing = true // slow: its result comes at +14m
			case ActUnfence:
				unfencedAt = at // its entries are removed at once
				e.Step(now, UnfenceResult{Host: a.Host, OK: true})
			}
		}
	}
	t.Fatalf("setup: renewal in flight %v, unfence at %v: the scenario did not play (status %+v)", renewing, unfencedAt, e.Status()[0])
}
