package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/safetime"
)

// Adversarial review 17 (commit e9c846b): the device's timeout set once per
// boot (Saved.DeviceTimeout), the successor opening the device only under
// HoldsGrantWith(now, DeviceTimeout), and the leader's timeouts in every
// grant.

// TestAttack17CrashRightAfterArmingLocksOutEverySuccessor (liveness: a
// healthy host reset). The first process of the boot arms on its first
// grant: Keeper.arm writes DeviceTimeout (10 s) into the state it keeps,
// but that state is the one its first grant left, written before the
// device was open: WatchdogTimeout 0 (Contract.Opened does not touch
// c.saved). Until its next grant moves the expiry (one report interval)
// the state file says {Sent, WatchdogTimeout: 0, DeviceTimeout: 10s}.
// The process crashes in that second (a panic in a probe, the OOM killer,
// a container restart). Its successor resumes that state: DeviceTimeout
// 10 s, resumedWd 0. Keeper.arm opens the device only under
// HoldsGrantWith(now, 10 s), and expiryWith returns 0 for any d >
// resumedWd when resumedWd is 0, for the process's whole life: its own
// grants, every second, never let it open the device. The device, running
// since the crash's release ping, resets the healthy, granted host 10 s
// later. Before 4184ce0 the successor opened on HoldsGrant, found 10 s,
// set nothing and armed.
func TestAttack17CrashRightAfterArmingLocksOutEverySuccessor(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	var file Saved // the state file: what Agent.Granted and Keeper.SaveWith write
	c0, k0 := newK(t, "p0", nil, dev, &now, nil)
	k0.SaveWith(func(s Saved) error { file = s; return nil })
	now = 5 * time.Second
	if saved, ok := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true)); ok {
		file = saved // Agent.Granted writes it before the tick
	}
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	if file.DeviceTimeout != 10*time.Second || file.WatchdogTimeout != 0 {
		t.Fatalf("the state file after arming: %+v", file)
	}
	// p0 crashes 0.5 s later, before its next grant.
	now += 500 * time.Millisecond
	dev.Exit()

	saved := file
	c1, k1 := keeperOn(t, "p1", &saved, dev, 10*time.Second, &now)
	k1.SaveWith(func(s Saved) error { file = s; return nil })
	// The leader is reachable and grants every report of p1 at once.
	for now = 6 * time.Second; now < 60*time.Second; now += time.Second {
		if s, ok := c1.Granted(grantFor(c1.Report(now, decision.SelfReport{}), true)); ok {
			file = s
		}
		if _, err := k1.Tick(now); err != nil {
			t.Fatal(err)
		}
		if active, last, timeout := dev.Active(); active && now >= last+timeout {
			t.Fatalf("p1, granted every second, never opened the device (held %v, armed %v, resumed state %+v): the healthy host resets at %v, 10 s after p0's crash",
				dev.Held(), c1.Armed(), saved, last+timeout)
		}
	}
}

// TestAttack17ShorterControllerTimeoutNeverCountsAgain (availability, the
// alert's advice is a dead end): the controllers run with
// watchdog_timeout 20 s; the first agent process arms with 20 s, and the
// device keeps it for the boot. The controllers are reconfigured with
// 10 s (a rolling restart of the controllers: every grant now says 10 s).
// The leader stops counting the host's watchdog and alerts
// watchdog-timeout: "give the agent watchdog_timeout no longer than the
// controllers'". The operator does, and restarts the agent: the
// successor takes the device as it finds it (20 s, set once per boot),
// reports 20 s, and is never counted until the host reboots: every host
// of the cloud is left without a self-fence, its guests held when its
// BMC is lost, though both the agent's configuration and the grant's
// watchdog timeout say 10 s. Before 4184ce0 the restart fixed it.
func TestAttack17ShorterControllerTimeoutNeverCountsAgain(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	var file Saved
	grant := func(c *Contract, w time.Duration) {
		g := grantFor(c.Report(now, decision.SelfReport{}), true)
		g.IsolationTimeout, g.WatchdogTimeout = iso, w
		if s, ok := c.Granted(g); ok {
			file = s
		}
	}
	c0, k0 := keeperOn(t, "p0", nil, dev, 20*time.Second, &now)
	k0.SaveWith(func(s Saved) error { file = s; return nil })
	for now = time.Second; now < 10*time.Second; now += time.Second {
		grant(c0, 20*time.Second)
		if _, err := k0.Tick(now); err != nil {
			t.Fatal(err)
		}
	}
	if !c0.Armed() || c0.Report(now, decision.SelfReport{}).WatchdogTimeout != 20*time.Second {
		t.Fatal("p0 not armed with 20 s")
	}
	// The controllers now say 10 s; the agent is reconfigured with 10 s
	// and restarted cleanly (its stop acknowledged: magic close).
	grant(c0, 10*time.Second)
	_, _ = k0.Tick(now)
	c0.Stop()
	if _, err := k0.Acked(decision.Ack{BootID: "b1", Agent: "p0", Seq: c0.stopSeq}); err != nil {
		t.Fatal(err)
	}
	saved := file
	c1, k1 := keeperOn(t, "p1", &saved, dev, 10*time.Second, &now)
	k1.SaveWith(func(s Saved) error { file = s; return nil })
	for now += time.Second; now < 40*time.Second; now += time.Second {
		grant(c1, 10*time.Second)
		if _, err := k1.Tick(now); err != nil {
			t.Fatal(err)
		}
	}
	r := c1.Report(now, decision.SelfReport{})
	if !r.WatchdogArmed || r.WatchdogTimeout > 10*time.Second {
		t.Fatalf("p1 (watchdog.timeout 10 s, every grant says 10 s) reports armed %v with %v: the controllers (10 s) never count it again on this boot",
			r.WatchdogArmed, r.WatchdogTimeout)
	}
}

// TestAttack17DeviceEnabledOnARunningHostResetsIt (liveness, pre-existing:
// it fails on f641e96 too): p0 runs without a watchdog device (the
// module did not load, or its open failed: EBUSY while wdmd held it, EACCES
// in a container without the device) and keeps its grants with
// WatchdogTimeout 0. The operator fixes that and restarts the agent. p1
// resumes p0's grant, opens the device on it (the timer starts with the
// driver's 60 s) and asks for 10 s only under HoldsGrantWith(now, 10 s):
// expiryWith is 0 for every d > 0 when the resumed grant's timeout is 0,
// and stays so for the process's life, its own grants notwithstanding.
// p1 never arms and the healthy host resets 60 s after the open.
func TestAttack17DeviceEnabledOnARunningHostResetsIt(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c0, k0 := newK(t, "p0", nil, nil, &now, nil) // no device
	var saved Saved
	for now = time.Second; now < 10*time.Second; now += time.Second {
		if s, ok := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true)); ok {
			saved = s
		}
		_, _ = k0.Tick(now)
	}
	c1, k1 := newK(t, "p1", &saved, dev, &now, nil)
	for ; now < 120*time.Second; now += time.Second {
		c1.Granted(grantFor(c1.Report(now, decision.SelfReport{}), true))
		if _, err := k1.Tick(now); err != nil {
			t.Fatal(err)
		}
		if active, last, timeout := dev.Active(); active && now >= last+timeout {
			t.Fatalf("p1, granted every second, opened the device and never set it (armed %v, timeout %v): the healthy host resets at %v",
				c1.Armed(), timeout, last+timeout)
		}
	}
}

// TestAttack17UpgradeFromAnAgentWithoutDeviceTimeout (safety, on the
// first restart after an upgrade): the state an agent before 4184ce0
// kept has no DeviceTimeout, so the new agent resuming it is "the first
// process of the boot" again: it asks the device for its own timeout,
// and before its first own grant nothing caps that at the leader's W
// (leaderWd is 0 until a grant says it). That is the sixteenth review's
// rounded successor: p0 (old agent, 32 s, exact, counted by the leader)
// is cut off and restarted as the new agent configured with 33 s; the
// grant cut for 33 s still holds 6.9 s after the report, the DA9063 takes
// 65 s, and the set's ping and the release ping are each worth 65 s.
func TestAttack17UpgradeFromAnAgentWithoutDeviceTimeout(t *testing.T) {
	const w0, w1 = 32 * time.Second, 33 * time.Second
	var now time.Duration
	dev := kernel(&now)
	dev.Round = da9063Round
	c0, k0 := keeperOn(t, "p0", nil, dev, w0, &now)
	now = 50 * time.Second
	c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	const ts = 100 * time.Second
	now = ts
	saved, _ := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	_, _ = k0.Tick(now)
	saved.DeviceTimeout = 0 // what the agent before 4184ce0 wrote
	bound := ts + iso + safetime.WatchdogTimers*w0

	// Cut off; p0 is stopped for the upgrade at 100.5 s without an ack
	// (the kernel's release ping), the new agent starts at 106.9 s.
	now = ts + 500*time.Millisecond
	dev.Exit()
	c1, k1 := keeperOn(t, "p1", &saved, dev, w1, &now)
	now = ts + 6900*time.Millisecond
	if _, err := k1.Tick(now); err != nil {
		t.Fatal(err)
	}
	for now += time.Second; c1.Feed(now); now += time.Second {
		_, _ = k1.Tick(now)
	}
	_, last, timeout := dev.Active()
	now = last + timeout - 100*time.Millisecond
	dev.Exit() // p1 killed just before the reset: its release ping
	if _, last, timeout = dev.Active(); last+timeout > bound {
		t.Fatalf("the host resets at %v, after t_s + D + 3W = %v: the upgraded successor asked the device for its own %v (no DeviceTimeout in the old state, no grant of its own yet to cap it) and the device took %v",
			last+timeout, bound, w1, timeout)
	}
}
