package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Adversarial review 15 (commit 451bab2): the bound "the host resets by
// E + 3W" and a successor that sets a longer device timeout.
//
// p0 runs with watchdog.timeout 10 s (the controllers' too: the leader
// counts its watchdog) and crashes right after its last grant, for the
// report it sent at 100 s, while the host is cut off. p1 starts with
// watchdog.timeout 18 s (an agent configured apart from the controllers,
// the case Saved.WatchdogTimeout exists for) and resumes that grant:
// SetWatchdogTimeout cuts it by one difference, 18 s - 10 s, to end at
// 102 s. But after the cut p1 still makes the three touches the bound
// counts (its last feed before the end, one feed decided before a hang and
// landing after it, the kernel's release ping at its exit), each worth 18 s
// now: the reset comes by 102 s + 3 x 18 s = 156 s, 16 s after the 140 s
// (t_s + D + 3 x 10 s) the leader's safe time is counted from. With the
// defaults (assume_dead_after 46 s) the leader evacuates from 146 s on,
// while the old guests run until the reset.
//
// Fails on 451bab2: the cut counts the longer timeout once, the bound three
// times. The cut is now three differences (and the timeout is set only when
// the grant cut for it still holds).
func TestAttack15LongerTimeoutSuccessorOutlivesTheBound(t *testing.T) {
	const w0, w1 = 10 * time.Second, 18 * time.Second
	var now time.Duration
	dev := kernel(&now)

	// p0: armed long ago with 10 s; its last grant answers the report it
	// sent at 100 s, and is what it keeps for a successor.
	c0, k0 := newK(t, "p0", nil, dev, &now, nil)
	now = 50 * time.Second
	c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	now = 100 * time.Second
	saved, ok := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if !ok || saved.WatchdogTimeout != w0 {
		t.Fatalf("p0's saved state %+v", saved)
	}
	if _, err := k0.Tick(now); err != nil {
		t.Fatal(err)
	}
	const ts = 100 * time.Second
	bound := ts + iso + 3*w0 // what the leader's safe time is counted from

	// The host is cut off from here on. p0 crashes at 100.5 s.
	now = 100*time.Second + 500*time.Millisecond
	dev.Exit()

	// p1, configured with 18 s, resumes p0's grant.
	c1, k1 := keeperOn(t, "p1", &saved, dev, w1, &now)
	now = 101 * time.Second
	if _, err := k1.Tick(now); err != nil {
		t.Fatal(err)
	}
	if !c1.Armed() {
		// The grant cut for 18 s has ended: p1 neither sets the longer
		// timeout (a ping worth 18 s) nor feeds; the kernel's release at
		// p0's crash is the last ping, worth p0's 10 s.
		if active, last, timeout := dev.Active(); !active || last+timeout > bound {
			t.Fatalf("active %v, reset at %v, bound %v", active, last+timeout, bound)
		}
		return
	}
	// Its last feed is decided at 101.9 s, under the cut grant (102 s);
	// the process is stopped right after the check, and the write lands
	// at 119.8 s, just before the reset that feed would have prevented.
	check := 101*time.Second + 900*time.Millisecond
	if !c1.Feed(check) {
		return // the grant is cut by one difference per ping the bound counts: p1 feeds none of it
	}
	// Each touch lands just before the reset the one before it set up: with
	// the device's own timeout (set once per boot: p1 may find p0's 10 s).
	_, _, wdt := dev.Active()
	now = check + wdt - 100*time.Millisecond
	if _, err := k1.Tick(check); err != nil { // the check's reading, the write's time
		t.Fatal(err)
	}
	if c1.Feed(now) {
		t.Fatal("p1 still holds a grant")
	}
	// Then p1 is killed, just before that reset: the kernel's release ping.
	now += wdt - 100*time.Millisecond
	dev.Exit()

	active, last, timeout := dev.Active()
	if !active {
		t.Fatal("the watchdog stopped")
	}
	if reset := last + timeout; reset > bound {
		t.Fatalf("the host resets at %v, after the %v the leader's safe time counts from (t_s + D + 3W with W = %v): "+
			"a successor with a %v device timeout resumed the grant cut by one difference, not three", reset, bound, w0, w1)
	}
}
