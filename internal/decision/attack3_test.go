package decision

import (
	"strings"
	"testing"
	"time"
)

// Third adversarial review (attack3). Each test failed on the code it was
// written against; the fixes are in grant.go.

// Finding A1: the agent's state
// directory is wiped while the host runs (package reinstall, a config
// management run that recreates /var/lib/vigil-agent, a disk swap of the
// agent's state volume). The restarted agent has lost its boot counter and
// its sequence numbers: it counts the same boot id as boot 1 again, seq 1.
// olderBoot then treats the running boot's messages as those of an ended
// boot: its clean stop is acknowledged without recording the disarm, the
// agent disarms, and vigil still believes boot b1 armed. The host is cut off
// with its BMC; vigil counts b1 as reset by its watchdog and evacuates while
// b1 runs its guests with a closed watchdog: a double writer.
func TestAttack3WipedCounterSameBootStopAcked(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := watchdogEngine(t)
	e.Step(t0, Leadership{Leader: true, Token: 1})
	var acts []Action
	grant := func(at time.Time, r AgentReport) Grant {
		e.Step(at, r)
		g, err := e.Grant(at, r)
		if err != nil {
			t.Fatal(err)
		}
		acts = append(acts, e.Tick(at).Actions...)
		return g
	}
	grant(t0, armedReport("b1", 5, 40)) // the fifth boot, long running
	// State wiped, agent restarted on the same boot: boot 1, seq 1.
	grant(t0.Add(2*time.Second), armedReport("b1", 1, 1))
	// The operator stops the agent cleanly (seq 2). Its messages cannot be
	// ordered against what vigil heard of b1 before: no ack (the agent
	// leaves its watchdog running, as vigil believes), and an alert says why.
	e.Step(t0.Add(3*time.Second), AgentStopping{Host: "cmp1", BootID: "b1", Boot: 1, Seq: 2})
	rd := e.Tick(t0.Add(3 * time.Second))
	if len(rd.Acks) != 0 {
		t.Fatalf("acks %v: the stop of a boot whose counter went back was acknowledged: the agent disarms while vigil believes it armed", rd.Acks)
	}
	alerted := false
	for _, a := range append(acts, rd.Actions...) {
		if a.Kind == ActAlert && strings.Contains(a.Reason, "state directory was wiped") {
			alerted = true
		}
	}
	if !alerted {
		t.Fatalf("no alert explains the wiped counter: %v", rd.Actions)
	}
	if b := e.hosts["cmp1"].armedBoot(); b != "b1" {
		t.Fatalf("vigil believes %q armed, want b1: the unacknowledged agent left it running", b)
	}
}

// Finding A2 (liveness, operator): the agent's boot counter went back on a
// new boot (state wiped, or the host reinstalled under the same name). Every
// grant to the new boot says Guests=false, so the guest start gate refuses
// every guest start on a healthy host (resume on boot, new instances,
// migrations in) until the host has rebooted past its old count; and vigil
// never counts on that boot's watchdog. Nothing tells the operator why.
func TestAttack3WipedCounterNewBootIsExplained(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := watchdogEngine(t)
	e.Step(t0, Leadership{Leader: true, Token: 1})
	r := armedReport("b5", 5, 10)
	e.Step(t0, r)
	if _, err := e.Grant(t0, r); err != nil {
		t.Fatal(err)
	}
	e.Tick(t0)
	// Reinstalled host, same name: a new boot id counted as boot 1.
	now := t0.Add(90 * time.Second)
	r = armedReport("new-install-boot", 1, 1)
	e.Step(now, r)
	if _, err := e.Grant(now, r); err != nil {
		t.Fatal(err)
	}
	rd := e.Tick(now) // the record of the new boot is written
	e.Step(now, Persisted{Ready: rd.Seq})
	acts := rd.Actions
	g, err := e.Grant(now, r)
	if err != nil {
		t.Fatal(err)
	}
	alerted := false
	for _, a := range append(acts, e.Tick(now).Actions...) {
		if a.Kind == ActAlert && a.Host == "cmp1" {
			alerted = true
		}
	}
	if !alerted {
		t.Error("no alert says the boot counter went back")
	}
	if !g.Guests {
		t.Fatal("a healthy host whose boot counter went back (1 < 5) on a new boot id gets Guests=false on every grant " +
			"(its guest start gate refuses every start until it has booted 5 times) and no alert says why")
	}
}

// Finding A3 (safety, agents that do not number boots: Boot 0; an agent of
// an older version during a rolling upgrade, or a downgrade). Boot b2's
// clean stop, then a report of the ended boot b1, delayed on another
// network, re-armed vigil's belief (a different boot id was taken at its
// word). A3b: the same with a numbered b1 before an unnumbered b2 (an agent
// downgraded across the reboot). Since attack5 a boot vigil cannot place
// gets no stop acknowledged (its watchdog runs on); the belief must stay
// unarmed all the same.
func TestAttack3UnnumberedBootsNeverReArm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b1, b2 uint64 // boot numbers
	}{
		{"both unnumbered", 0, 0},
		{"numbered, then unnumbered", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			x := newA4(t, t0)
			x.report(t0, armedReport("b1", tc.b1, 9))
			x.report(t0.Add(10*time.Second), armedReport("b2", tc.b2, 1))
			x.e.Step(t0.Add(11*time.Second), AgentStopping{Host: "cmp1", BootID: "b2", Boot: tc.b2, Seq: 2})
			x.tick(t0.Add(11 * time.Second))
			if len(x.acks) != 0 {
				t.Fatalf("stop notice of an unplaceable boot: acks %v, want none", x.acks)
			}
			x.report(t0.Add(12*time.Second), armedReport("b1", tc.b1, 10)) // late, from the boot before
			if concludesSelfFence(x.e, t0.Add(12*time.Second)) {
				t.Fatal("DOUBLE WRITER: a late report of ended boot b1 re-armed the belief; b2 runs disarmed")
			}
		})
	}
}
