package agent

import (
	"golang.org/x/sys/unix"

	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// kernel is a KernelWatchdog on the test's clock, with softdog's default
// timeout of 60 s until someone sets one.
func kernel(now *time.Duration) *KernelWatchdog {
	return &KernelWatchdog{Now: func() time.Duration { return *now }, Default: 60 * time.Second}
}

// newK is a keeper of a fresh process p on boot b1 over dev, asking for a
// 10 s timeout, on the clock now.
func newK(t *testing.T, id string, saved *Saved, dev Device, now *time.Duration, respond func(Response) error) (*Contract, *Keeper) {
	t.Helper()
	c, err := NewContract("b1", id, iso, false, saved)
	if err != nil {
		t.Fatal(err)
	}
	if respond == nil {
		respond = func(Response) error { return nil }
	}
	k, err := NewKeeper(c, dev, 10*time.Second, func() time.Duration { return *now }, RespondStopVMs, respond)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func TestKeeperFeedsWhileGrantedAndRespondsOncePerIsolation(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	var responses []Response
	c, k := newK(t, "p1", nil, dev, &now, func(r Response) error { responses = append(responses, r); return nil })
	grant := func(at time.Duration) {
		r := c.Report(at, decision.SelfReport{})
		c.Granted(grantFor(r, true))
	}
	var fedAt []time.Duration
	grant(0)
	for now = 0; now <= 25*time.Second; now += time.Second {
		before := dev.Pings["write"]
		if _, err := k.Tick(now); err != nil {
			t.Fatal(err)
		}
		if dev.Pings["write"] > before {
			fedAt = append(fedAt, now)
		}
		if now == 15*time.Second {
			grant(15 * time.Second) // the leader is back: a new isolation may come
		}
	}
	// Opened and armed at 0 s (grant until 10 s), fed 1..9 s, isolated
	// 10..15 s, granted again at 15 s after that tick: fed 16..24 s,
	// isolated at 25 s.
	if len(fedAt) != 18 || fedAt[0] != time.Second || fedAt[8] != 9*time.Second || fedAt[9] != 16*time.Second {
		t.Fatalf("fed at %v; want 1-9s and 16-24s", fedAt)
	}
	if active, _, timeout := dev.Active(); !active || timeout != 10*time.Second || !c.Armed() {
		t.Fatalf("device active %v timeout %v, contract armed %v; want armed with 10s", active, timeout, c.Armed())
	}
	if len(responses) != 2 || responses[0] != RespondStopVMs {
		t.Fatalf("isolation responses %v; want stop-vms once per isolation (10s, 25s)", responses)
	}
	m := c.Stop()
	if ok, err := k.Acked(decision.Ack{BootID: "b1", Agent: "p0", Seq: m.Seq}); ok || err != nil || !dev.Held() {
		t.Fatal("another process's ack disarmed the watchdog")
	}
	if ok, err := k.Acked(decision.Ack{BootID: "b1", Agent: "p1", Seq: m.Seq}); !ok || err != nil {
		t.Fatal("its own ack did not disarm the watchdog")
	}
	if active, _, _ := dev.Active(); active || dev.Held() || dev.Pings["release"] != 0 {
		t.Fatalf("after the ack: device active %v, held %v, release pings %d; want stopped by the magic close", active, dev.Held(), dev.Pings["release"])
	}
}

// A process that starts without a grant (its predecessor's ran out while
// the host is cut off) never opens the device, so the crash that ends it
// gives Linux nothing to ping. Fails before the fix: the agent opened the
// device and set its timeout at start-up (a ping), and the kernel pinged it
// again at every crash: a crash loop kept a cut-off host from resetting.
func TestKeeperOpensOnlyUnderAGrant(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c, k := newK(t, "p1", nil, dev, &now, nil)
	c.Granted(grantFor(c.Report(time.Second, decision.SelfReport{}), true))
	for now = time.Second; now < 11*time.Second; now += time.Second {
		if _, err := k.Tick(now); err != nil {
			t.Fatal(err)
		}
	}
	saved := Saved{BootID: "b1", Expiry: 11 * time.Second, Sent: time.Second, WatchdogTimeout: 10 * time.Second}
	// p1 crashes at 12 s, after its grant ended: the kernel pings (its
	// one ping after the grant), at 12 s.
	now = 12 * time.Second
	dev.Exit()
	if _, last, _ := dev.Active(); last != 12*time.Second {
		t.Fatalf("the crash's release ping at %v, want 12s", last)
	}
	// Its successors crash-loop, each resuming the expired grant.
	for i := range 5 {
		now = 13*time.Second + time.Duration(i)*time.Second
		c2, k2 := newK(t, "p2", &saved, dev, &now, nil)
		if _, err := k2.Tick(now); err != nil {
			t.Fatal(err)
		}
		if k2.Holds() || c2.Armed() || c2.Report(now, decision.SelfReport{}).WatchdogArmed {
			t.Fatalf("a process started at %v without a valid grant opened the device or says armed", now)
		}
		dev.Exit() // the kernel closes nothing it holds
	}
	if _, last, _ := dev.Active(); last != 12*time.Second || dev.Pings["release"] != 1 || dev.Pings["settimeout"] != 1 {
		t.Fatalf("last ping %v, pings %v; want the one release at 12s and the first process's one timeout set", last, dev.Pings)
	}
}

// A process resuming a valid grant opens the device its predecessor left
// running and keeps its timeout: it reads it back and does not set it (a
// set would ping).
func TestKeeperTakesOverARunningDeviceWithoutTouchingItsTimeout(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c, k := newK(t, "p1", nil, dev, &now, nil)
	now = time.Second
	c.Granted(grantFor(c.Report(now, decision.SelfReport{}), true))
	_, _ = k.Tick(now)
	now = 3 * time.Second
	dev.Exit() // p1 crashes under its grant
	c2, k2 := newK(t, "p2", &Saved{BootID: "b1", Expiry: 11 * time.Second, Sent: time.Second, WatchdogTimeout: 10 * time.Second}, dev, &now, nil)
	now = 4 * time.Second
	if _, err := k2.Tick(now); err != nil || !k2.Holds() || !c2.Armed() {
		t.Fatalf("the successor under a resumed grant: holds %v armed %v err %v", k2.Holds(), c2.Armed(), err)
	}
	if dev.Pings["settimeout"] != 1 {
		t.Fatalf("pings %v: the successor set the timeout again", dev.Pings)
	}
	if r := c2.Report(now, decision.SelfReport{}); !r.WatchdogArmed || r.WatchdogTimeout != 10*time.Second {
		t.Fatalf("report says armed %v timeout %v", r.WatchdogArmed, r.WatchdogTimeout)
	}
}

// The timeout is set only after a check of its own: when the grant ends
// between the open and the set, the device is held but not set, nor armed,
// until the next grant.
func TestKeeperSetsTheTimeoutOnlyAfterItsOwnCheck(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c, err := NewContract("b1", "p1", iso, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The clock the keeper reads after the open has moved past the grant
	// (the process was stopped between the open and the set).
	late := 11 * time.Second
	k, err := NewKeeper(c, dev, 10*time.Second, func() time.Duration { return late }, RespondNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Granted(grantFor(c.Report(0, decision.SelfReport{}), true))
	if _, err := k.Tick(9 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !k.Holds() || c.Armed() || dev.Pings["settimeout"] != 0 {
		t.Fatalf("holds %v armed %v pings %v; want held, unset, unarmed", k.Holds(), c.Armed(), dev.Pings)
	}
	if _, _, timeout := dev.Active(); timeout != 60*time.Second {
		t.Fatalf("timeout %v, want the driver's default untouched", timeout)
	}
}

func TestKeeperRefusesWhatItCannotKeep(t *testing.T) {
	var now time.Duration
	if _, err := NewKeeper(newC(t, "p1", nil), nil, 0, nil, RespondNone, nil); err == nil {
		t.Fatal("a process that starts armed was accepted")
	}
	c, _ := NewContract("b1", "p1", iso, false, nil)
	if _, err := NewKeeper(c, kernel(&now), 10*time.Second, nil, "halt", nil); err == nil {
		t.Fatal("an unknown isolation response was accepted")
	}
	if _, err := NewKeeper(c, kernel(&now), 1500*time.Millisecond, func() time.Duration { return now }, RespondNone, nil); err == nil || !strings.Contains(err.Error(), "watchdog.timeout") {
		t.Fatalf("a fractional timeout: %v", err)
	}
	// A device that sets a shorter timer than asked resets a healthy host
	// whose grants come slower: held, never armed, said at every Tick.
	dev := kernel(&now)
	dev.Round = func(time.Duration) time.Duration { return 5 * time.Second }
	c2, k := newK(t, "p2", nil, dev, &now, nil)
	c2.Granted(grantFor(c2.Report(0, decision.SelfReport{}), true))
	for range 2 {
		if _, err := k.Tick(0); err == nil || !strings.Contains(err.Error(), "set watchdog.timeout to 5s or less") || c2.Armed() {
			t.Fatalf("a device rounding down: %v, armed %v", err, c2.Armed())
		}
	}
	// One that rounds up is armed with what it set (the engine then does
	// not count it: the report says the longer timeout).
	dev = kernel(&now)
	dev.Round = func(d time.Duration) time.Duration { return d + 2*time.Second }
	c3, k3 := newK(t, "p3", nil, dev, &now, nil)
	c3.Granted(grantFor(c3.Report(0, decision.SelfReport{}), true))
	if _, err := k3.Tick(0); err != nil || c3.Report(0, decision.SelfReport{}).WatchdogTimeout != 12*time.Second {
		t.Fatalf("a device rounding up: %v", err)
	}
	// Busy: a predecessor still exiting; the next granted Tick tries again.
	dev = kernel(&now)
	if _, err := dev.Open(); err != nil {
		t.Fatal(err)
	}
	c4, k4 := newK(t, "p4", nil, dev, &now, nil)
	c4.Granted(grantFor(c4.Report(0, decision.SelfReport{}), true))
	if _, err := k4.Tick(0); err == nil || k4.Holds() {
		t.Fatalf("opened a busy device: %v", err)
	}
	dev.Exit()
	if _, err := k4.Tick(time.Second); err != nil || !c4.Armed() {
		t.Fatalf("the next granted Tick did not open the freed device: %v", err)
	}
}

// Without a watchdog the isolation response is all the host does: it runs
// once per isolation too, not once per process. Fails before the fix: a
// grant ended the isolation only on the feeding path, which a host without
// a watchdog never takes, so a second isolation ran no response.
func TestKeeperWithoutWatchdogRespondsOncePerIsolation(t *testing.T) {
	c, err := NewContract("b1", "p1", iso, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var responses []time.Duration
	var now time.Duration
	k, err := NewKeeper(c, nil, 0, nil, RespondStopVMs, func(Response) error { responses = append(responses, now); return nil })
	if err != nil {
		t.Fatal(err)
	}
	grant := func(at time.Duration) { c.Granted(grantFor(c.Report(at, decision.SelfReport{}), true)) }
	grant(0)
	for now = 0; now <= 40*time.Second; now += time.Second {
		if _, err := k.Tick(now); err != nil {
			t.Fatal(err)
		}
		if now == 15*time.Second {
			grant(now)
		}
	}
	if len(responses) != 2 {
		t.Errorf("responses at %v, want two: one per isolation", responses)
	}
}

// An agent configured with a longer watchdog timeout than the leader's
// asks the device for the leader's, which the grant carries: each ping the
// safe time allows after the grant is worth no more than the leader counts.
func TestKeeperSetsNoLongerThanTheLeadersWatchdogTimeout(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c, k := keeperOn(t, "p1", nil, dev, 30*time.Second, &now)
	now = time.Second
	g := grantFor(c.Report(now, decision.SelfReport{}), true)
	g.WatchdogTimeout = 10 * time.Second
	c.Granted(g)
	what, err := k.Tick(now)
	if err != nil || !c.Armed() {
		t.Fatalf("armed %v, err %v", c.Armed(), err)
	}
	if _, _, timeout := dev.Active(); timeout != 10*time.Second {
		t.Fatalf("device timeout %v, want the leader's 10s", timeout)
	}
	if r := c.Report(now, decision.SelfReport{}); r.WatchdogTimeout != 10*time.Second {
		t.Fatalf("the report says %v", r.WatchdogTimeout)
	}
	if !strings.Contains(what, "leader's watchdog_timeout") || !strings.Contains(what, "30s") {
		t.Fatalf("the log does not say why the device runs shorter than configured: %q", what)
	}
}

// The device's timeout is set once per boot: the first process writes it to
// the state its successors resume from before it asks the device, and a
// successor configured with another timeout takes the device as it finds it
// (asking for another could be rounded up past what the leader counts:
// scenarios/attack16/).
func TestKeeperSetsTheDeviceOncePerBoot(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c0, k0 := newK(t, "p0", nil, dev, &now, nil)
	var kept Saved
	k0.SaveWith(func(s Saved) error {
		if s.DeviceTimeout == 10*time.Second && dev.Pings["settimeout"] == 0 {
			kept = s // written before the set
		}
		return nil
	})
	now = time.Second
	c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	if kept.DeviceTimeout != 10*time.Second || kept.BootID != "b1" {
		t.Fatalf("kept %+v before the set; want the 10 s written first", kept)
	}
	saved, _ := c0.Granted(grantFor(c0.Report(2*time.Second, decision.SelfReport{}), true))
	if saved.DeviceTimeout != 10*time.Second {
		t.Fatalf("a grant's saved state %+v lost the device's timeout", saved)
	}
	now = 3 * time.Second
	dev.Exit() // p0 crashes under its grant
	c1, k1 := keeperOn(t, "p1", &saved, dev, 30*time.Second, &now)
	now = 4 * time.Second
	if _, err := k1.Tick(now); err != nil || !c1.Armed() {
		t.Fatalf("p1 not armed under the resumed grant: %v", err)
	}
	if _, _, timeout := dev.Active(); timeout != 10*time.Second || dev.Pings["settimeout"] != 1 {
		t.Fatalf("timeout %v, pings %v: the successor asked the device for its own 30 s", timeout, dev.Pings)
	}
	if r := c1.Report(now, decision.SelfReport{}); r.WatchdogTimeout != 10*time.Second {
		t.Fatalf("p1 reports %v", r.WatchdogTimeout)
	}
}

// A device that cannot fence is closed at once and never reported armed: a
// driver without magic close stops the timer when a crashed agent's device
// is closed, and an alarm-only one never resets the host.
func TestKeeperRefusesADeviceThatCannotFence(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts uint32
		want string
	}{
		{"no magic close", unix.WDIOF_SETTIMEOUT | unix.WDIOF_KEEPALIVEPING, "WDIOF_MAGICCLOSE"},
		{"alarm only (mei_wdt)", unix.WDIOF_SETTIMEOUT | unix.WDIOF_KEEPALIVEPING | unix.WDIOF_ALARMONLY, "WDIOF_ALARMONLY"},
	} {
		var now time.Duration
		dev := kernel(&now)
		dev.Support = tc.opts
		c, k := newK(t, "p0", nil, dev, &now, nil)
		now = time.Second
		c.Granted(grantFor(c.Report(now, decision.SelfReport{}), true))
		_, err := k.Tick(now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a refusal naming %s", tc.name, err, tc.want)
		}
		if c.Armed() || k.Holds() || c.Report(now, decision.SelfReport{}).WatchdogArmed {
			t.Errorf("%s: armed %v holds %v: a device that cannot fence counted", tc.name, c.Armed(), k.Holds())
		}
		if active, _, _ := dev.Active(); active {
			t.Errorf("%s: the device was left running", tc.name)
		}
		now = 2 * time.Second
		if _, err := k.Tick(now); err != nil || dev.Held() || dev.Pings["open"] != 0 {
			t.Errorf("%s: the next tick: %v, held %v: it must go on as an agent without a watchdog", tc.name, err, dev.Held())
		}
	}
}

// keeperOn is a keeper of process id on boot b1 over dev, asking for
// timeout, on the clock now, with no isolation response.
func keeperOn(t *testing.T, id string, saved *Saved, dev Device, timeout time.Duration, now *time.Duration) (*Contract, *Keeper) {
	t.Helper()
	c, err := NewContract("b1", id, iso, false, saved)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeeper(c, dev, timeout, func() time.Duration { return *now }, RespondNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}
