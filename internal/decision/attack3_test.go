package decision

import (
	"testing"
	"time"
)

// Third adversarial review (attack3). Each test failed on the code it was
// written against. They were written against boot numbers the agent
// counted on local disk; since the leader's tickets replaced those numbers
// (grant.go, Ticket) each runs the same schedule in ticket terms.

// Finding A1: the agent's state directory is wiped while the host runs
// (package reinstall, a config management run that recreates
// /var/lib/vigil-agent). The restarted agent knows nothing of its
// predecessor. It is a new agent process, placed by its own ticket: its
// clean stop is acknowledged and disarms vigil's belief, and a late report
// of the process before it (armed, with its old ticket) re-arms nothing.
// On boot numbers, the stop was acknowledged while vigil still believed b1
// armed: a double writer.
func TestAttack3WipedStateIsANewAgent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b1", 40))
	if x.e.hosts["cmp1"].armedBoot() != "b1" {
		t.Fatalf("setup: b1 not placed armed: %+v", x.e.hosts["cmp1"].watchdogState())
	}
	wiped := armedReport("b1", 1)
	wiped.Self.Agent = "b1-after-wipe"
	x.report(t0.Add(2*time.Second), wiped)
	x.stop(t0.Add(3*time.Second), "cmp1", "b1", "b1-after-wipe", 2)
	x.tick(t0.Add(3 * time.Second))
	if len(x.acks) != 1 || x.acks[0].Agent != "b1-after-wipe" {
		t.Fatalf("the clean stop of the running agent process: acks %v, want one, bound to it", x.acks)
	}
	if b := x.e.hosts["cmp1"].armedBoot(); b != "" {
		t.Fatalf("vigil believes %q armed after the acknowledged stop", b)
	}
	x.late(t0.Add(4*time.Second), armedReport("b1", 39)) // the wiped process's, late
	if concludesSelfFence(x.e, t0.Add(4*time.Second)) {
		t.Fatal("DOUBLE WRITER: a late report of the agent process before the wipe re-armed the belief; b1 runs disarmed")
	}
}

// Finding A2 (liveness, operator): a host reinstalled under the same name.
// Its new boot's agent gets grants that let guests start, like any other.
func TestAttack3ReinstalledHostGetsGuests(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newA4(t, t0)
	x.report(t0, armedReport("b5", 10))
	now := t0.Add(90 * time.Second)
	var g Grant
	for s := uint64(1); s <= 3; s++ {
		g = x.report(now, armedReport("new-install-boot", s))
	}
	if !g.Guests || x.e.hosts["cmp1"].armedBoot() != "new-install-boot" {
		t.Fatalf("a healthy reinstalled host: grant %+v, armed %q; want guests, the new boot counted", g, x.e.hosts["cmp1"].armedBoot())
	}
}

// Finding A3 (safety): agents that name no agent process (an agent of an
// older version during a rolling upgrade, or a downgrade). Their watchdog
// never counts, an alert says so, and a late report of an ended boot after
// such a boot's clean stop re-arms nothing.
func TestAttack3UnidentifiedAgentsNeverCount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b1, b2 string // agent process names
	}{
		{"both unidentified", "", ""},
		{"identified, then unidentified", "b1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			x := newA4(t, t0)
			r1 := armedReport("b1", 9)
			r1.Self.Agent = tc.b1
			x.report(t0, r1)
			r2 := armedReport("b2", 1)
			r2.Self.Agent = tc.b2
			x.report(t0.Add(10*time.Second), r2)
			if b := x.e.hosts["cmp1"].armedBoot(); b != "" || !x.alerted("watchdog-unidentified") {
				t.Fatalf("an unidentified agent's watchdog: counted %q, alerts %s; want none counted, and said", b, codes(x.acts))
			}
			x.stop(t0.Add(11*time.Second), "cmp1", "b2", tc.b2, 2)
			x.tick(t0.Add(11 * time.Second))
			r1.Self.Seq = 10
			x.late(t0.Add(12*time.Second), r1) // late, from the boot before
			if concludesSelfFence(x.e, t0.Add(12*time.Second)) {
				t.Fatal("DOUBLE WRITER: a late report of ended boot b1 re-armed the belief; b2 runs disarmed")
			}
		})
	}
}
