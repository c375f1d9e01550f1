package decision

import (
	"strings"
	"testing"
	"time"
)

// Fourth adversarial review (attack4). Each test fails on the code it was
// written against (d6c853f); none of them is fixed here.

// a4 drives one engine and keeps the records it writes, like the store.
type a4 struct {
	t     *testing.T
	e     *Engine
	store map[string]Record
	acts  []Action
	acks  []Ack
}

func newA4(t *testing.T, at time.Time) *a4 {
	x := &a4{t: t, e: watchdogEngine(t), store: map[string]Record{}}
	x.e.Step(at, Leadership{Leader: true, Token: 1})
	return x
}

func (x *a4) tick(at time.Time) {
	rd := x.e.Tick(at)
	for _, r := range rd.Records {
		x.store[r.Host] = r
	}
	if len(rd.Records) > 0 {
		x.e.Step(at, Persisted{Ready: rd.Seq})
	}
	x.acts = append(x.acts, rd.Actions...)
	x.acks = append(x.acks, rd.Acks...)
}

func (x *a4) report(at time.Time, r AgentReport) Grant {
	x.e.Step(at, r)
	g, err := x.e.Grant(at, r)
	if err != nil {
		x.t.Fatal(err)
	}
	x.tick(at)
	return g
}

// failover starts a successor from the store, leader from at.
func (x *a4) failover(at time.Time, token uint64) {
	var recs []Record
	for _, r := range x.store {
		recs = append(recs, r)
	}
	x.e = watchdogEngine(x.t)
	x.e.Restore(recs)
	x.e.Step(at, Leadership{Leader: true, Token: token})
}

func (x *a4) alerted(code string) bool {
	for _, a := range x.acts {
		if a.Kind == ActAlert && a.Code == code {
			return true
		}
	}
	return false
}

func unarmedReport(boot string, no, seq uint64) AgentReport {
	r := armedReport(boot, no, seq)
	r.Self.WatchdogArmed = false
	return r
}

// Finding F1 (double writer): what vigil knows of a boot whose watchdog
// it does not count is never written. watchdogRecord writes nothing unless
// the boot is armed or cleanly stopped, so the number of the newest boot
// (grantBootNo, including setBootNo's increment for an unnumbered boot) dies
// with the leader. cmp1 ran boot 5 (b1) armed and rebooted into b2, whose
// agent does not feed a watchdog (numbered, WatchdogArmed false: the
// watchdog module did not load after a kernel update; or an unnumbered
// agent during a rolling downgrade, which the engine never counts). The
// leader records "no watchdog" for cmp1 (an empty watchdog record), then
// fails over. A report b1 sent before its reboot, delayed on another network
// or a relay (the threat model of r2 and A3), reaches the successor, which
// knows no boot number and takes b1 as the running boot: armed. b2 is then
// cut off with its BMC; the successor counts b1 as reset by its watchdog and
// evacuates while b2 runs the guests with no watchdog at all.
func TestAttack4UnarmedNewBootForgottenAtFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		b2   AgentReport
	}{
		{"numbered, no watchdog", unarmedReport("b2", 6, 1)},
		{"unnumbered, no watchdog", unarmedReport("b2", 0, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			x := newA4(t, t0)
			x.report(t0, armedReport("b1", 5, 40))
			x.report(t0.Add(70*time.Second), tc.b2) // rebooted: no watchdog now
			if r, ok := x.store["cmp1"]; !ok || r.WatchdogBoot == "b1" {
				t.Fatalf("the leader did not record that b1 is no longer the armed boot: %+v", r)
			}
			before := x.store["cmp1"]
			now := t0.Add(75 * time.Second)
			x.failover(now, 2)
			x.report(now, armedReport("b1", 5, 39)) // late, sent before the reboot
			if concludesSelfFence(x.e, now) {
				t.Fatalf("DOUBLE WRITER: the successor counted ended boot b1's watchdog as the fence of cmp1, which runs b2 without one (record at the failover: %+v)", before)
			}
		})
	}
}

// Finding F1b (double writer, same root): the disarm of b1 was persisted
// (WatchdogOffBoot b1, seq 41), cmp1 rebooted into an unarmed boot, and a
// later record of cmp1 (its incident opening when b2 goes silent) replaces
// the stored disarm by an empty watchdog record. The successor no longer
// holds b1's report seq 39, sent before the stop, against anything.
func TestAttack4LaterRecordErasesDisarm(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 5, 40))
	x.e.Step(t0.Add(time.Second), AgentStopping{Host: "cmp1", BootID: "b1", Boot: 5, Seq: 41})
	x.tick(t0.Add(time.Second))
	if len(x.acks) != 1 || x.store["cmp1"].WatchdogOffBoot != "b1" {
		t.Fatalf("the stop of b1 was not acknowledged and persisted: acks %v, record %+v", x.acks, x.store["cmp1"])
	}
	// cmp1 reboots into b2 without a watchdog, then falls silent: the
	// incident opens (every fence fails) and persists cmp1.
	x.report(t0.Add(70*time.Second), unarmedReport("b2", 6, 1))
	concludesSelfFence(x.e, t0.Add(70*time.Second))
	if x.e.hosts["cmp1"].inc == nil {
		t.Fatal("setup: no incident opened for the silent cmp1")
	}
	for _, r := range x.e.Tick(t0.Add(131 * time.Second)).Records {
		x.store[r.Host] = r
	}
	// concludesSelfFence does not keep the records it causes: write the
	// incident as the leader does.
	x.store["cmp1"] = x.e.hosts["cmp1"].record()
	before := x.store["cmp1"]
	now := t0.Add(135 * time.Second)
	x.failover(now, 2)
	x.report(now, armedReport("b1", 5, 39)) // late, sent before the stop notice
	if concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: a record written after b1's acknowledged stop dropped the disarm; b1's late report re-armed the successor's belief (record at the failover: %+v)", before)
	}
}

// Finding F2 (double writer, needs an agent whose counter write did not
// reach the disk before its first message: a power loss right after boot):
// two boots with the same number. The later boot b3 is taken as the
// running one, its clean stop is acknowledged, and a delayed report of the
// ended boot b2, numbered 6 too, is not "older" (6 < 6 is false): it is
// taken as the running boot and re-arms vigil's belief.
func TestAttack4BootNumberCollision(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b2", 6, 10))
	x.report(t0.Add(70*time.Second), armedReport("b3", 6, 1)) // same number: the counter write was lost
	x.e.Step(t0.Add(71*time.Second), AgentStopping{Host: "cmp1", BootID: "b3", Boot: 6, Seq: 2})
	x.tick(t0.Add(71 * time.Second))
	if len(x.acks) != 0 {
		t.Fatalf("the stop of b3, which cannot be placed, was acknowledged: %v", x.acks)
	}
	x.report(t0.Add(72*time.Second), armedReport("b2", 6, 9)) // late
	if concludesSelfFence(x.e, t0.Add(72*time.Second)) {
		t.Fatal("DOUBLE WRITER: a late report of ended boot b2, numbered like the running b3, re-armed the belief after b3's acknowledged stop")
	}
}

// Finding F3 (liveness, operator-facing): setBootNo's increment for an
// unnumbered boot runs ahead of the agent's own counter. Rolling agent
// downgrade/upgrade: boot 5 numbered, then two boots under an agent that
// does not number boots (vigil counts them 6 and 7), then the agent is
// upgraded again and, having never seen those boots, counts the next one 6.
// vigil takes the running boot for an ended one: every grant withholds
// guests (the start gate refuses every guest start on a healthy host, and
// restart-refused asks Nova every 30 s to hard reboot guests the gate then
// refuses again), its watchdog is never counted, and the alert blames a
// "late message of an ended boot, or the agent's state was wiped", neither of
// which happened.
func TestAttack4SyntheticBootNumberRunsAhead(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b5", 5, 10))
	x.report(t0.Add(70*time.Second), armedReport("b6", 0, 1))
	x.report(t0.Add(140*time.Second), armedReport("b7", 0, 1))
	now := t0.Add(210 * time.Second)
	var g Grant
	for i := 0; i < 10; i++ {
		g = x.report(now, armedReport("b8", 6, uint64(i+1)))
		now = now.Add(time.Second)
	}
	if !g.Guests {
		t.Fatalf("the running boot b8 of a healthy cmp1 gets grants that withhold guests (vigil numbers it below boots it invented: %d); alerts: %v",
			x.e.hosts["cmp1"].maxBootNo, codes(x.acts))
	}
}

func codes(acts []Action) string {
	var s []string
	for _, a := range acts {
		if a.Kind == ActAlert {
			s = append(s, a.Code)
		}
	}
	return strings.Join(s, ",")
}

// Finding F3b (liveness): one delayed message is enough, however the agent
// counts. cmp1 ran b6 under an agent that does not number boots, was
// upgraded and rebooted into b7, numbered 7 (the agent counted b6). A report
// b6 sent before the reboot arrives late: an unnumbered boot "cannot be
// ordered", so it is taken as the running one, and setBootNo counts it one
// above b7 (8). From then on the running b7 is an "ended" boot: its grants
// withhold guests, its watchdog is never counted (cut off with its BMC, it is
// held forever), and the alert blames a wiped state directory.
func TestAttack4LateUnnumberedMessageEndsRunningBoot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b6", 0, 10))
	x.report(t0.Add(70*time.Second), armedReport("b7", 7, 1))
	x.report(t0.Add(71*time.Second), armedReport("b6", 0, 9)) // late, from before the reboot
	now := t0.Add(72 * time.Second)
	g := x.report(now, armedReport("b7", 7, 2))
	// Resolved deliberately as a hold, not as the reviewer proposed: an
	// unnumbered message cannot be placed, and taking b7 as the running
	// boot would be wrong whenever b6's message is the later one. vigil
	// counts no watchdog of cmp1 until a boot above 7 reports, says so,
	// and the host may still run guests.
	if !g.Guests || x.e.hosts["cmp1"].armedBoot() != "" || !x.alerted("boot-unordered") {
		t.Fatalf("after one late message of the unnumbered boot before it: guests %v, vigil counts %q armed (want none until a newer boot), alerts %s",
			g.Guests, x.e.hosts["cmp1"].armedBoot(), codes(x.acts))
	}
	g = x.report(now.Add(90*time.Second), armedReport("b8", 8, 1))
	if x.e.hosts["cmp1"].armedBoot() != "b8" {
		t.Fatalf("the next boot, numbered 8, is not counted on: %q", x.e.hosts["cmp1"].armedBoot())
	}
}

// Finding F4 (double writer in real Nova; the simulator does not model it,
// see sim/fault.go): restart-refused hard-reboots a guest on the host Nova
// places it on without looking at the evidence vigil has that it runs
// elsewhere. vm05 was live-migrating from cmp1 to cmp2 and had switched
// over (its guest runs on cmp2) when cmp1 lost power. vigil fenced cmp1
// (Nova answers 409 to vm05's evacuation), an operator powered it on in
// maintenance: real nova-compute's init_host resets the interrupted
// migration's task state on the source and resumes the guest, which the
// gate refuses (the incident holds the fence): ERROR, no task state, placed
// on cmp1. cmp1 rejoins. vigil now asks Nova to hard-reboot vm05 on cmp1,
// although cmp2's agent reports vm05 running and cmp2 holds vm05's disk:
// the gate lets it start (no incident), a second copy writes next to cmp2's.
func TestAttack4RestartIgnoresCopyElsewhere(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	e.Step(t0, Leadership{Leader: true})
	self1 := SelfReport{BootID: "cmp1-boot2", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Refused: []string{"vm05"}}
	self2 := SelfReport{BootID: "cmp2-boot1", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Domains: []string{"vm05"}}
	for s := 0; s <= 40; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		for _, net := range e.cfg.Networks {
			e.Step(now, AgentReport{Host: "cmp1", Network: net, Self: self1})
			e.Step(now, AgentReport{Host: "cmp2", Network: net, Self: self2})
		}
		e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"vm05"}, Status: map[string]string{"vm05": NovaError}})
		e.Step(now, NovaService{Host: "cmp2", Up: true})
		e.Step(now, DiskWriters{Instance: "vm05", Hosts: []string{"cmp2"}})
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": uint64(s), "cmp2": uint64(s)}})
		for _, a := range e.Tick(now).Actions {
			if a.Kind == ActRestart {
				t.Fatalf("DOUBLE WRITER at +%ds: restart %v on cmp1 while cmp2's agent reports vm05 running and cmp2 holds its disk", s, a.Instances)
			}
		}
	}
}
