package decision

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Fourth adversarial review (attack4). Each test failed on the code it was
// written against (d6c853f). Those about boot numbers run in ticket terms
// since tickets replaced the numbers (grant.go, Ticket); F2 (two boots
// with one number) and F3 (vigil's invented numbers) have no counterpart.

// a4 drives one engine and keeps the records it writes, like the store.
type a4 struct {
	t     *testing.T
	e     *Engine
	store map[string]Record
	acts  []Action
	acks  []Ack
	// tickets: what each agent process (SelfReport.Agent) was handed.
	tickets map[string]Ticket
}

func newA4(t *testing.T, at time.Time) *a4 {
	x := &a4{t: t, e: watchdogEngine(t), store: map[string]Record{}, tickets: map[string]Ticket{}}
	x.e.Step(at, Leadership{Leader: true, Token: 1})
	return x
}

// tick runs a Tick whose records are written, and returns its Ready.
func (x *a4) tick(at time.Time) Ready {
	rd := x.e.Tick(at)
	for _, r := range rd.Records {
		x.store[r.Host] = r
	}
	if len(rd.Records) > 0 {
		x.e.Step(at, Persisted{Ready: rd.Seq})
	}
	x.acts = append(x.acts, rd.Actions...)
	x.acks = append(x.acks, rd.Acks...)
	return rd
}

// report delivers a report of a live agent process, as its agent would:
// with the ticket it holds, and again at once while its grants hand it a
// new one to echo (its next reports, arriving before anything else
// happens). It returns the last grant.
func (x *a4) report(at time.Time, r AgentReport) Grant {
	for i := 0; ; i++ {
		had := x.tickets[r.Self.Agent]
		g := x.late(at, r)
		switch {
		case r.Self.Agent == "" || i == 3:
			return g
		case g.Ticket.IsZero() && g.Agent == r.Self.Agent && x.e.hosts[r.Host].tAgent == r.Self.Agent:
			// issued, handed out once written: ask again
		case !g.Ticket.IsZero() && g.Ticket != had:
			// echo it
		default:
			return g
		}
	}
}

// late delivers r once, with the ticket its agent process holds (one sent
// before an event the test already played, arriving only now).
func (x *a4) late(at time.Time, r AgentReport) Grant {
	r.Self.Ticket = x.tickets[r.Self.Agent]
	x.e.Step(at, r)
	g, err := x.e.Grant(at, r)
	if err != nil && !errors.Is(err, ErrStale) {
		x.t.Fatal(err)
	}
	if g.Agent == r.Self.Agent && !g.Ticket.IsZero() {
		x.tickets[g.Agent] = g.Ticket
	}
	x.tick(at)
	return g
}

// stop is the clean-stop notice of agent process agent on boot.
func (x *a4) stop(at time.Time, host, boot, agent string, seq uint64) {
	x.e.Step(at, AgentStopping{Host: host, BootID: boot, Agent: agent, Ticket: x.tickets[agent], Seq: seq})
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

func unarmedReport(boot string, seq uint64) AgentReport {
	r := armedReport(boot, seq)
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
		{"no watchdog", unarmedReport("b2", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			x := newA4(t, t0)
			x.report(t0, armedReport("b1", 40))
			x.report(t0.Add(70*time.Second), tc.b2) // rebooted: no watchdog now
			if r, ok := x.store["cmp1"]; !ok || r.WatchdogBoot == "b1" {
				t.Fatalf("the leader did not record that b1 is no longer the armed boot: %+v", r)
			}
			before := x.store["cmp1"]
			now := t0.Add(75 * time.Second)
			x.failover(now, 2)
			x.late(now, armedReport("b1", 39)) // late, sent before the reboot
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
	x.report(t0, armedReport("b1", 40))
	x.stop(t0.Add(time.Second), "cmp1", "b1", "b1", 41)
	x.tick(t0.Add(time.Second))
	if len(x.acks) != 1 || x.store["cmp1"].WatchdogOffBoot != "b1" {
		t.Fatalf("the stop of b1 was not acknowledged and persisted: acks %v, record %+v", x.acks, x.store["cmp1"])
	}
	// cmp1 reboots into b2 without a watchdog, then falls silent: the
	// incident opens (every fence fails) and persists cmp1.
	x.report(t0.Add(70*time.Second), unarmedReport("b2", 1))
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
	x.late(now, armedReport("b1", 39)) // late, sent before the stop notice
	if concludesSelfFence(x.e, now) {
		t.Fatalf("DOUBLE WRITER: a record written after b1's acknowledged stop dropped the disarm; b1's late report re-armed the successor's belief (record at the failover: %+v)", before)
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

// Finding F3b (liveness): one delayed message is enough. A report that
// cmp1's agent process on b6 sent before it had its ticket (before the
// reboot) arrives after the running b7 was placed. vigil cannot tell it
// from a newer process's first word: it issues it a ticket and counts no
// watchdog of cmp1 meanwhile. b6 never echoes it; b7's next reports get a
// ticket of their own, and b7 is counted on again.
func TestAttack4LateUnticketedMessageEndsNothing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	early := armedReport("b6", 1) // b6's first report: no ticket yet
	x.report(t0, armedReport("b6", 10))
	x.report(t0.Add(70*time.Second), armedReport("b7", 1))
	delete(x.tickets, "b6")
	x.late(t0.Add(71*time.Second), early)
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" {
		t.Fatalf("after a message vigil cannot place, it still counts %q", b)
	}
	now := t0.Add(72 * time.Second)
	var g Grant
	for s := uint64(2); s <= 4; s++ {
		g = x.report(now, armedReport("b7", s))
	}
	if !g.Guests || x.e.hosts["cmp1"].armedBoot() != "b7" {
		t.Fatalf("the running b7 after one late message: guests %v, counted %q; want both back", g.Guests, x.e.hosts["cmp1"].armedBoot())
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
