package decision

import (
	"testing"
	"time"
)

// Fifth adversarial review (attack5), against 60fb7eb and its docs. Each
// test fails on the code it was written against; none is fixed here.

// Finding Z1 (double writer): Tick clears watchdogUnsaved for every record it
// returns, on the assumption that the controller writes them. A leader that
// lost etcd (the zombie of watchdog-zombie-leader: it acts until its own view
// of the lease runs out, sim/controller.go apply drops its records and acks)
// cannot write them, and nothing tells the engine. cmp1 ran b1 (boot 5)
// armed, rebooted into b2 (boot 6) whose agent feeds no watchdog (the module
// did not load, F1's case). The zombie's first grant to b2 withholds guests
// and emits the record; the Tick clears the flag although the record never
// reaches the store; b2's next report, a second later and well within the
// lease, gets a grant that lets b2 start its guests. The successor restores
// "b1 armed" from the store. cmp1 is then cut off with its BMC: the
// successor counts b1 as reset by its watchdog and evacuates while b2 runs
// the guests with no watchdog.
func TestAttack5ZombieClearsUnsaved(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 5, 40))
	x.report(t0.Add(time.Second), armedReport("b1", 5, 41))
	if x.store["cmp1"].WatchdogBoot != "b1" {
		t.Fatalf("setup: %+v", x.store["cmp1"])
	}
	// The leader loses etcd: from here its Readies are not written.
	zombie := func(at time.Time, r AgentReport) Grant {
		x.e.Step(at, r)
		g, err := x.e.Grant(at, r)
		if err != nil {
			t.Fatal(err)
		}
		x.e.Tick(at) // records (and acks) dropped: the write fails
		return g
	}
	at := t0.Add(70 * time.Second)
	g1 := zombie(at, unarmedReport("b2", 6, 1))
	g2 := zombie(at.Add(time.Second), unarmedReport("b2", 6, 2))
	if g1.Guests {
		t.Fatal("setup: the grant that moved the belief let guests start")
	}
	// The zombie's lease runs out (2 s); a standby leads from the store.
	now := at.Add(4 * time.Second)
	x.failover(now, 2)
	if g2.Guests && concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: a grant of the leader that could not write its record let b2 (no watchdog) start guests; the successor restored %+v and counted b1's watchdog as cmp1's fence", x.store["cmp1"])
	}
}

// Finding K1 (double writer; the known limit of docs/architecture.md item 4,
// reached without any leader dying, with every agent feeding its watchdog,
// and with an unnumbered boot as well as a counter gone back: the fuzz in
// attack5_fuzz_test.go finds the unnumbered case, seeds 106235, 106442). The docs say a lower-numbered reboot is only mis-placed with "a
// late message of a boot that only a leader which died before writing its
// record had heard". A boot that no leader heard at all is enough, and the
// running boot's watchdog need not be missing: an acknowledged clean stop
// of it will do. cmp1 ran b5 (boot 5), then b6 (boot 6) while cut off from
// the controllers (its reports were held up in a relay or on a congested
// network: never heard, so b6 started no guest), then was reinstalled: b7
// counts itself boot 1 (boot-unordered, "may still run guests"). The
// operator stops b7's agent cleanly for an upgrade: b7 cannot be placed, the
// stop is acknowledged and the watchdog disarmed. One report b6 sent long
// ago now arrives: numbered 6, above every number heard, so b6 is placed as
// the running boot, armed, and unordered is cleared. cmp1 is cut off with its
// BMC: vigil counts b6 as reset by its watchdog and evacuates while b7 runs
// the guests, unwatched.
func TestAttack5UnheardBootOutranksReinstall(t *testing.T) {
	for _, tc := range []struct {
		name string
		no   uint64
	}{
		{"reinstalled, counts itself boot 1", 1},
		// The same with an agent that does not number boots (downgraded,
		// or a build without the counter): the docs' limit names only a
		// counter that goes back.
		{"agent downgraded, unnumbered", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			x := newA4(t, t0)
			x.report(t0, armedReport("b5", 5, 40))
			// b6 runs 10 minutes, never heard. Then b7:
			at := t0.Add(20 * time.Minute)
			x.report(at, armedReport("b7", tc.no, 1))
			g := x.report(at.Add(time.Second), armedReport("b7", tc.no, 2))
			if !g.Guests {
				t.Fatalf("setup: the unplaceable boot may run guests (docs), got %+v", g)
			}
			x.e.Step(at.Add(2*time.Second), AgentStopping{Host: "cmp1", BootID: "b7", Boot: tc.no, Seq: 3})
			x.tick(at.Add(2 * time.Second))
			// The fix: b7 cannot be placed, so its stop is not
			// acknowledged and its watchdog runs on; a conclusion
			// that b6's late report then allows is a true one (b7
			// resets). Without a watchdog b7 would start no guests.
			if len(x.acks) != 0 {
				t.Fatalf("the stop of b7, which cannot be placed, was acknowledged: %v", x.acks)
			}
			if g := x.report(at.Add(3*time.Second), unarmedReport("b8", tc.no, 1)); g.Guests {
				t.Fatalf("an unplaceable boot without a watchdog may start guests: %+v", g)
			}
		})
	}
}

// Finding R1 (double writer in real Nova, as F4): runsElsewhere only knows
// what this leader heard. A successor's first Tick after cmp1 (whose vm05
// start was refused; Nova places vm05 on cmp1 in ERROR, while the guest runs
// on cmp2 after a live migration that switched over) is heard, and before
// cmp2's report or the next DiskWriters read arrive, asks Nova to
// hard-reboot vm05 on cmp1.
func TestAttack5RestartRightAfterFailover(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	e.Step(t0, Leadership{Leader: true}) // a successor: nothing heard yet
	self1 := SelfReport{BootID: "cmp1-boot2", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Refused: []string{"vm05"}}
	for s := 0; s <= 3; s++ {
		now := t0.Add(time.Duration(s) * 250 * time.Millisecond)
		for _, net := range e.cfg.Networks {
			e.Step(now, AgentReport{Host: "cmp1", Network: net, Self: self1})
		}
		e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"vm05"}, Status: map[string]string{"vm05": NovaError}})
		e.Step(now, NovaService{Host: "cmp2", Up: true})
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": uint64(s), "cmp2": uint64(s)}})
		for _, a := range e.Tick(now).Actions {
			if a.Kind == ActRestart {
				t.Fatalf("DOUBLE WRITER at +%v: a new leader restarts %v on cmp1 before it heard cmp2 (which runs vm05) or read vm05's disk watchers", now.Sub(t0), a.Instances)
			}
		}
	}
}

// Finding U1 (double writer, a narrow race): stopping changes what vigil
// believes of the watchdog and persists it, but does not set
// watchdogUnsaved, so a grant in the same Tick interval finds nothing
// changed and lets guests start before the record is written. cmp1 ran b1
// (boot 5) armed, rebooted into b2 (boot 6) whose agent feeds no watchdog;
// b2's agent is stopped and started again at once (a config push): its stop
// notice is the first message of b2 the leader hears, placing b2 disarmed,
// and its next report, before the leader's Tick, gets a grant that lets b2
// start guests. The leader dies before that Tick: the successor restores
// "b1 armed" (found by the attack5 fuzz, seed 101107).
func TestAttack5StopDoesNotMarkUnsaved(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 5, 40))
	at := t0.Add(70 * time.Second)
	x.e.Step(at, AgentStopping{Host: "cmp1", BootID: "b2", Boot: 6, Seq: 1})
	r := unarmedReport("b2", 6, 2)
	x.e.Step(at.Add(100*time.Millisecond), r)
	g, err := x.e.Grant(at.Add(100*time.Millisecond), r)
	if err != nil {
		t.Fatal(err)
	}
	// The leader dies before its next Tick.
	now := at.Add(4 * time.Second)
	x.failover(now, 2)
	if g.Guests && concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: b2 was let start guests before the record of its stop was written; the successor restored %+v and counted b1's watchdog as cmp1's fence", x.store["cmp1"])
	}
}

// Finding O1 (operator-facing, liveness): a record written before boots
// were numbered (WatchdogBoot set, WatchdogBootNo 0, no WatchdogNoBoot)
// leaves maxBootID empty; the running boot's first report after the upgrade
// is its own boot id (so not placed anew) and grantBoot != maxBootID then
// drops the armed belief for good: vigil never counts that boot's watchdog
// until the host reboots, and no alert says so.
func TestAttack5PreNumberingRecordSilentlyUncounted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.store["cmp1"] = Record{Host: "cmp1", WatchdogBoot: "b1", WatchdogSeq: 40}
	x.failover(t0, 2)
	now := t0
	for i := uint64(0); i < 5; i++ {
		x.report(now, armedReport("b1", 1, 41+i)) // the upgraded agent numbers this boot 1
		now = now.Add(time.Second)
	}
	h := x.e.hosts["cmp1"]
	if b := h.armedBoot(); b != "b1" && !x.alerted("boot-unordered") && !x.alerted("watchdog-unnumbered") {
		t.Fatalf("the running, armed, numbered boot b1 is not counted on (%q, belief %+v) and no alert says why (alerts: %s)", b, h.watchdogState(), codes(x.acts))
	}
}
