package decision

import (
	"testing"
	"time"
)

// Sixth adversarial review (attack6), against 48d4147 (the fifth round's
// fixes). Each test failed on the code it was written against. Those about
// boot numbers run in ticket terms since tickets replaced the numbers
// (grant.go, Ticket); S2 (explaining a withheld ack) has no counterpart:
// no clean stop of a running agent goes unacknowledged any more.

// reinstalled drives cmp1 through boot b5 (armed) and then a reinstall:
// boot r1, whose reports are granted for 5 s.
func reinstalled(t *testing.T, x *a4, t0 time.Time, armed bool) (time.Time, Grant) {
	t.Helper()
	x.report(t0, armedReport("b5", 10))
	x.report(t0.Add(time.Second), armedReport("b5", 11))
	var g Grant
	now := t0.Add(120 * time.Second)
	for s := uint64(1); s <= 5; s++ {
		r := armedReport("r1", s)
		r.Self.WatchdogArmed = armed
		g = x.report(now, r)
		now = now.Add(time.Second)
	}
	return now, g
}

func newA6(t *testing.T, at time.Time, selfFence time.Duration) *a4 {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SelfFenceAfter = selfFence
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	e.Step(at, Leadership{Leader: true, Token: 1})
	return &a4{t: t, e: e, store: map[string]Record{}, tickets: map[string]Ticket{}}
}

// Finding S1 (needless host reset; availability). On boot numbers the
// clean stop of a reinstalled host's agent (numbered below its old boots)
// was not acknowledged: the watchdog ran on and reset the host with its
// guests, on every rolling agent upgrade. With tickets the running agent
// process is placed by its own ticket and its stop is acknowledged, with
// self-fencing on or off.
func TestAttack6ReinstalledStopIsAcknowledged(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		selfFence time.Duration
	}{{"self-fence disabled", 0}, {"self-fence enabled", 46 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			x := newA6(t, t0, tc.selfFence)
			now, _ := reinstalled(t, x, t0, true)
			x.stop(now, "cmp1", "r1", "r1", 6)
			x.tick(now)
			if len(x.acks) != 1 {
				t.Fatalf("HEALTHY HOST RESET: the clean stop of cmp1's running agent (an upgrade) got acks %v, want one: the watchdog would run on and reset the host with its guests", x.acks)
			}
		})
	}
}

// Finding S3 (availability). K1's other half: a boot that cannot be placed
// and feeds no watchdog gets grants with Guests false, for its whole life
// (its reports never make it the granted boot). With self_fence disabled
// there is no self-fence to protect, yet a reinstalled host whose agent
// feeds no watchdog can start no guest until it has rebooted past its old
// boot number (5 reboots here); the alert does not say guests are held.
func TestAttack6UnplaceableUnarmedGuestsWithoutSelfFence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA6(t, t0, 0)
	_, g := reinstalled(t, x, t0, false)
	if !g.Guests {
		t.Fatal("GUESTS HELD: self_fence is disabled, yet the reinstalled cmp1 (boot 1 after boot 5, no watchdog) gets no grant that lets it start guests, and will not until it reboots 5 times")
	}
}

// Finding S4 (restart loop). restartRefused asks Nova to hard-reboot a
// refused guest on a host "whose grants let guests start", but does not ask
// the grants: on the reinstalled, unarmed cmp1 the gate refuses every
// start (S3), and vigil asks for a hard reboot every 30 s for ever (each
// one refused, the guest back in ERROR).
func TestAttack6RestartWhileGrantsWithholdGuests(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b5", 10))
	start := t0.Add(120 * time.Second)
	restarts := 0
	for s := 0; s < 120; s++ {
		now := start.Add(time.Duration(s) * time.Second)
		for _, net := range x.e.cfg.Networks {
			r := unarmedReport("r1", uint64(s+1))
			r.Network = net
			r.Self.Refused = []string{"vm05"}
			x.e.Step(now, r)
			g, err := x.e.Grant(now, r)
			if err != nil {
				t.Fatal(err)
			}
			if g.Guests {
				t.Skip("grants let guests start: S4 does not apply")
			}
			x.e.Step(now, AgentReport{Host: "cmp2", Network: net, Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		}
		x.e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"vm05"}, Status: map[string]string{"vm05": NovaError}})
		x.e.Step(now, NovaService{Host: "cmp2", Up: true})
		x.e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": uint64(s), "cmp2": uint64(s)}})
		rd := x.e.Tick(now)
		for _, a := range rd.Actions {
			if a.Kind == ActRestart {
				restarts++
			}
		}
		if len(rd.Records) > 0 {
			x.e.Step(now, Persisted{Ready: rd.Seq})
		}
	}
	if restarts > 0 {
		t.Fatalf("vigil asked %d hard reboots of vm05 on cmp1 in 120 s while every grant to cmp1 withheld guests: each is refused by the gate", restarts)
	}
}

// Finding P1 (double writer, with a controller that survives a failed
// write). Persisted clears every host whose record left in any Ready so
// far. A leader whose etcd write failed but whose lease did not (a
// transient etcd blip shorter than the lease TTL: the keepalive gets
// through again) writes its next Ready and steps Persisted: the record that
// was lost is counted as written. cmp1 ran b1 (boot 5) armed and rebooted
// into b2 (boot 6) whose watchdog did not load; the Ready carrying "b2,
// unarmed" is lost; the next write (cmp2's) succeeds and Persisted clears
// cmp1 too, so b2's next grant starts guests. The successor restores "b1
// armed" and, with cmp1 cut off and its BMC too, counts b1 as reset by its
// watchdog while b2 runs the guests. The input's doc says only that a leader
// that lost etcd "never steps it"; nothing tells a controller that one
// failed write forbids Persisted for the rest of the term, and the engine
// does not re-emit the lost record. (The simulator's zombie is always
// deposed, so it never meets this.)
func TestAttack6PersistedAfterLostWrite(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 40))
	x.report(t0.Add(time.Second), armedReport("b1", 41))
	at := t0.Add(70 * time.Second)
	r := unarmedReport("b2", 1)
	x.e.Step(at, r)
	if g, _ := x.e.Grant(at, r); g.Guests {
		t.Fatal("setup: the grant that moved the belief let guests start")
	}
	x.e.Tick(at) // this write fails (etcd blip): the records are lost
	// etcd is back within the lease; cmp2's agent stops cleanly, whose
	// disarm record is written: the controller steps Persisted.
	at = at.Add(time.Second)
	x.stop(at, "cmp2", "x", "x", 1)
	x.tick(at)
	if _, ok := x.store["cmp2"]; !ok {
		t.Fatal("setup: cmp2's record was not written")
	}
	g := x.report(at.Add(time.Second), unarmedReport("b2", 2))
	now := at.Add(5 * time.Second)
	x.failover(now, 2)
	if g.Guests && concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: a Persisted for a later write let b2 (no watchdog) start guests though its record was lost; the successor restored %+v and counted b1's watchdog as cmp1's fence", x.store["cmp1"])
	}
}
