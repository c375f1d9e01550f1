package decision

import (
	"testing"
	"time"
)

// Fifth adversarial review (attack5), against 60fb7eb and its docs. Each
// test failed on the code it was written against. Those about boot numbers
// run in ticket terms since tickets replaced the numbers (grant.go,
// Ticket); O1 (records from before boot numbers) has no counterpart.

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
	x.report(t0, armedReport("b1", 40))
	x.report(t0.Add(time.Second), armedReport("b1", 41))
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
	g1 := zombie(at, unarmedReport("b2", 1))
	g2 := zombie(at.Add(time.Second), unarmedReport("b2", 2))
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

// Finding K1 (double writer, the class that ended boot numbers): a boot no
// leader heard outranked a later one. cmp1 ran b5, then b6 while cut off
// from the controllers (its reports held up in a relay or on a congested
// network: never heard, so b6 started no guest), then was reinstalled: b7.
// The operator stops b7's agent cleanly for an upgrade: acknowledged, the
// watchdog disarmed. One report b6 sent long ago now arrives. On boot
// numbers b6 could be placed over b7 (a higher number), armed; cmp1 cut off
// with its BMC, vigil counted b6 as reset by its watchdog while b7 ran the
// guests, unwatched. With tickets b6's report cannot be placed: it is
// issued a ticket that b6, being over, never echoes.
func TestAttack5UnheardBootOutranksReinstall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b5", 40))
	// b6 runs 10 minutes, never heard. Then b7:
	at := t0.Add(20 * time.Minute)
	x.report(at, armedReport("b7", 1))
	g := x.report(at.Add(time.Second), armedReport("b7", 2))
	if !g.Guests {
		t.Fatalf("setup: the reinstalled boot may run guests, got %+v", g)
	}
	x.stop(at.Add(2*time.Second), "cmp1", "b7", "b7", 3)
	x.tick(at.Add(2 * time.Second))
	if len(x.acks) != 1 {
		t.Fatalf("the clean stop of the running b7: acks %v, want one", x.acks)
	}
	x.late(at.Add(3*time.Second), armedReport("b6", 7)) // sent 10 minutes ago
	if concludesSelfFence(x.e, at.Add(3*time.Second)) {
		t.Fatal("DOUBLE WRITER: a late report of b6, never heard before, was placed over b7 and counted as cmp1's fence; b7 runs disarmed")
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
	x.report(t0, armedReport("b1", 40))
	at := t0.Add(70 * time.Second)
	x.stop(at, "cmp1", "b2", "b2", 1)
	r := unarmedReport("b2", 2)
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
