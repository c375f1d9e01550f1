package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/safetime"
)

// Adversarial review 16 (commit caa88a0): the bound "the host resets by
// E + 3W" for a successor that sets a longer device timeout, on a device
// that rounds the timeout it is given up.
//
// SetWatchdogTimeout cuts a resumed grant by three differences, and
// Keeper.arm checks the grant cut for the timeout it *asks* for
// (HoldsGrantWith(now, want)) before WDIOC_SETTIMEOUT. But the set's own
// ping, and the kernel's release ping at the process's exit, are worth
// the timeout the device *took*: docs/architecture.md says "that one ping
// may be worth the rounded timeout", and the bound needs all of them to be
// worth no more than W after E - 3(W' - W). With a device that rounds W'
// up to Wr the host resets by t_set + 2 Wr, t_set < E - 3(W' - W): past
// E + 3W whenever 2 Wr > 3 W'.

// da9063Round is the DA9063 PMIC watchdog's table (drivers/watchdog/
// da9063_wdt.c, wdt_timeout[]): the driver sets the smallest supported
// timeout at least the one asked for. 32 s is exact; 33 s becomes 65 s.
func da9063Round(d time.Duration) time.Duration {
	for _, s := range []int{2, 4, 8, 16, 32, 65, 131} {
		if t := time.Duration(s) * time.Second; t >= d {
			return t
		}
	}
	return 131 * time.Second
}

// attack16Successor runs p0 (watchdog.timeout w0, exact on the device,
// the controllers' W) granted for its report at ts, crashing at ts+0.5 s,
// and p1 (watchdog.timeout w1) resuming p0's grant at p1Start. stall is
// how long p1 is stopped between the clock reading that allowed its
// WDIOC_SETTIMEOUT and the ioctl (0: none). p1 is then killed 0.1 s before
// the reset its last touch left. It returns the reset time and the bound.
func attack16Successor(t *testing.T, w0, w1, p1Start, stall time.Duration) (reset, bound, ts time.Duration) {
	t.Helper()
	var now time.Duration
	dev := kernel(&now)
	dev.Round = da9063Round

	c0, k0 := keeperOn(t, "p0", nil, dev, w0, &now)
	now = 50 * time.Second
	c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	if _, _, got := dev.Active(); got != w0 {
		t.Fatalf("p0's device timeout %v, want %v (exact on the device)", got, w0)
	}
	ts = 100 * time.Second
	now = ts
	saved, ok := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{WatchdogTimeout: w0}), true))
	if !ok || saved.WatchdogTimeout != w0 {
		t.Fatalf("p0's saved state %+v", saved)
	}
	if _, err := k0.Tick(now); err != nil {
		t.Fatal(err)
	}
	bound = ts + iso + safetime.WatchdogTimers*w0

	// Cut off from here on; p0 crashes at ts + 0.5 s (its release ping).
	now = ts + 500*time.Millisecond
	dev.Exit()

	c1, err := NewContract("b1", "p1", iso, false, &saved)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	clock := func() time.Duration {
		// Keeper.arm's own reading before the set: the process is
		// stopped right after it, the ioctl lands stall later.
		reads++
		r := now
		now += stall
		return r
	}
	k1, err := NewKeeper(c1, dev, w1, clock, RespondNone, nil)
	if err != nil {
		t.Fatal(err)
	}
	now = p1Start
	if _, err := k1.Tick(now); err != nil {
		t.Fatal(err)
	}
	if !dev.Held() {
		t.Fatal("p1 did not open the device under the resumed grant")
	}
	if dev.Pings["settimeout"] == 0 {
		return 0, bound, ts // p1 did not set the longer timeout: nothing to show
	}
	for now += time.Second; c1.Feed(now); now += time.Second {
		if _, err := k1.Tick(now); err != nil { // feeds the cut grant allows, if any
			t.Fatal(err)
		}
	}
	// p1 is killed just before the reset its last touch left: the kernel's
	// release ping, worth the device's timeout.
	_, last, timeout := dev.Active()
	now = last + timeout - 100*time.Millisecond
	dev.Exit()
	active, last, timeout := dev.Active()
	if !active {
		t.Fatal("the watchdog stopped")
	}
	return last + timeout, bound, ts
}

// TestAttack16RoundedLongerTimeoutOutlivesTheBound: p0 runs with 32 s (the
// controllers' watchdog_timeout: the leader counts it); p1 is configured
// with 33 s and resumes p0's grant 6.9 s after its report. The grant cut
// for 33 s (three differences: 3 s) still holds at 6.9 s, so p1 sets
// 33 s, and the DA9063 takes 65 s. Opened(65 s) then cuts the grant to
// nothing, but the set's ping and the release ping at p1's kill are worth
// 65 s each: the reset comes at ts + 136.7 s, past the bound ts + D + 3W =
// ts + 106 s and past the leader's safe time from the grant,
// safetime.Minimum = 117.7 s (D 10 s, R 1 s, W 32 s): vigil evacuates
// some 19 s before the host resets.
func TestAttack16RoundedLongerTimeoutOutlivesTheBound(t *testing.T) {
	const w0, w1 = 32 * time.Second, 33 * time.Second
	reset, bound, ts := attack16Successor(t, w0, w1, 100*time.Second+6900*time.Millisecond, 0)
	if reset == 0 {
		t.Fatal("p1 did not set its timeout: the schedule shows nothing")
	}
	safe := safetime.Minimum(safetime.Input{ReportInterval: time.Second, IsolationTimeout: iso, WatchdogTimeout: w0})
	if reset > bound {
		t.Fatalf("the host resets at %v, after %v (t_s + D + 3W, W = %v) and after t_s + safe time %v = %v: "+
			"p1 checked the grant cut for the %v it asked for, the device set %v, and the set's ping and the release ping are each worth that",
			reset, bound, w0, safe, ts+safe, w1, da9063Round(w1))
	}
}

// TestAttack16RoundedSetLandsLate: the same, with p1 stopped between the
// reading that allowed the set (6.9 s after the report) and the ioctl,
// which lands just before the reset p0's release ping left (ts + 32.5 s).
// The set is the one late touch the bound allows, but it is worth the
// rounded 65 s, and so is the release ping after it: the reset comes about
// ts + 162 s, 44 s after the leader's safe time.
func TestAttack16RoundedSetLandsLate(t *testing.T) {
	const w0, w1 = 32 * time.Second, 33 * time.Second
	start := 100*time.Second + 6900*time.Millisecond
	stall := 100*time.Second + 500*time.Millisecond + w0 - 100*time.Millisecond - start
	reset, bound, ts := attack16Successor(t, w0, w1, start, stall)
	if reset == 0 {
		t.Fatal("p1 did not set its timeout: the schedule shows nothing")
	}
	safe := safetime.Minimum(safetime.Input{ReportInterval: time.Second, IsolationTimeout: iso, WatchdogTimeout: w0})
	if reset > bound {
		t.Fatalf("the host resets at %v, after %v (t_s + D + 3W) and after t_s + safe time = %v: a late set worth the rounded %v, then the release ping",
			reset, bound, ts+safe, da9063Round(w1))
	}
}

// wdiofMagicClose and wdiofAlarmOnly are WDIOF_MAGICCLOSE and
// WDIOF_ALARMONLY (include/uapi/linux/watchdog.h), the bits of
// WDIOC_GETSUPPORT's options that say whether a close without the magic
// keeps the timer running, and whether the timer resets the host at all.
const (
	wdiofMagicClose = 0x0100
	wdiofAlarmOnly  = 0x0400
)

// coreDevice is a watchdog on Linux's watchdog core for a driver whose
// watchdog_info.options are opts. watchdog_release() stops the timer on any
// close when WDIOF_MAGICCLOSE is not set ("We only stop the watchdog if we
// received the magic character or if WDIOF_MAGICCLOSE is not set"):
// mei_wdt (Intel AMT, WDIOF_KEEPALIVEPING | WDIOF_SETTIMEOUT |
// WDIOF_ALARMONLY) is one; on a host with the ME it may be /dev/watchdog.
// Options is what WDIOC_GETSUPPORT reads.
type coreDevice struct {
	k    *KernelWatchdog
	opts uint32
}

func (d *coreDevice) Options() (uint32, error) { return d.opts, nil }

func (d *coreDevice) Open() (Watchdog, error) {
	w, err := d.k.Open()
	if err != nil {
		return nil, err
	}
	return &coreHandle{Watchdog: w, magic: d.opts&wdiofMagicClose != 0, opts: d.opts}, nil
}

type coreHandle struct {
	Watchdog
	magic bool
	opts  uint32
}

// Options is what WDIOC_GETSUPPORT reads on the open device.
func (h *coreHandle) Options() (uint32, error) { return h.opts, nil }

// Abandon is a close without the magic: without WDIOF_MAGICCLOSE the core
// stops the timer as if the magic had been written.
func (h *coreHandle) Abandon() error {
	if !h.magic {
		return h.Watchdog.Disarm()
	}
	return h.Watchdog.Abandon()
}

// TestAttack16DeviceWithoutMagicCloseStopsOnCrash: the contract's "a
// crashed agent leaves /dev/watchdog open without the magic close, so the
// hardware timer runs on" holds only for drivers that set
// WDIOF_MAGICCLOSE. vigil checks that watchdog.device is a character
// device and that it takes a timeout, never what WDIOC_GETSUPPORT says: on
// mei_wdt p0 opens, arms and reports armed (the leader counts it), then a
// crash (the kernel's close) stops the timer, and the host never resets
// while vigil counts it self-fenced after the safe time. (And
// WDIOF_ALARMONLY: mei_wdt's timer never resets the host even when it
// fires.) A device that cannot promise the release ping must never be
// reported armed.
func TestAttack16DeviceWithoutMagicCloseStopsOnCrash(t *testing.T) {
	var now time.Duration
	dev := &coreDevice{k: kernel(&now), opts: 0x8000 | 0x0080 | wdiofAlarmOnly} // mei_wdt: KEEPALIVEPING | SETTIMEOUT | ALARMONLY
	c, k := newK(t, "p0", nil, dev, &now, nil)
	now = 50 * time.Second
	c.Granted(grantFor(c.Report(now, decision.SelfReport{}), true))
	_, _ = k.Tick(now) // a refusal is an answer too: the report below says whether it counts
	r := c.Report(now+time.Second, decision.SelfReport{})
	if !r.WatchdogArmed {
		return // not counted by the leader: safe
	}
	// The leader grants the armed report, the host is cut off, the agent
	// crashes: the kernel closes the device without the magic.
	c.Granted(grantFor(r, true))
	now += 2 * time.Second
	if err := k.Abandon(); err != nil {
		t.Fatal(err)
	}
	if active, _, _ := dev.k.Active(); !active {
		t.Fatalf("the agent reported its watchdog armed on a device without WDIOF_MAGICCLOSE (options %#x): the crash's close stopped the timer, the host never resets, and vigil counts it self-fenced assume_dead_after after the grant",
			dev.opts)
	}
}

// TestAttack16LongerTimeoutSuccessorNeverArms (liveness, not safety): a
// successor that resumed its predecessor's grant and asks for a longer
// timeout than that grant was earned with checks HoldsGrantWith, whose cut
// (expiryWith) is min(expiry, resumedSent + D - 3(W' - W)) for the life of
// the process: resumedSent never moves, so once the cut has passed no grant
// of its own ever lets it set the timeout. With D 10 s, any W' of W + 4 s
// or more is never settable. The process holds the device open, unarmed
// and unfed, while the leader grants every report: the healthy host
// resets W after its predecessor's last ping, guests and all.
func TestAttack16LongerTimeoutSuccessorNeverArms(t *testing.T) {
	var now time.Duration
	dev := kernel(&now)
	c0, k0 := newK(t, "p0", nil, dev, &now, nil)
	now = 50 * time.Second
	c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	now = 60 * time.Second
	saved, _ := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	_, _ = k0.Tick(now)
	// An upgrade restarts the agent with watchdog.timeout 15 s; the
	// controllers stay reachable and grant every report.
	now += 500 * time.Millisecond
	if err := k0.Abandon(); err != nil {
		t.Fatal(err)
	}
	c1, k1 := keeperOn(t, "p1", &saved, dev, 15*time.Second, &now)
	for now = 61 * time.Second; now < 120*time.Second; now += time.Second {
		c1.Granted(grantFor(c1.Report(now, decision.SelfReport{}), true))
		if _, err := k1.Tick(now); err != nil {
			t.Fatal(err)
		}
		if active, last, timeout := dev.Active(); active && now >= last+timeout {
			t.Fatalf("granted every second, p1 (watchdog.timeout 15s, resumed a 10s grant) never armed (held %v, armed %v): the healthy host resets at %v",
				dev.Held(), c1.Armed(), last+timeout)
		}
	}
}

// TestAttack16ThirdProcessOpensUnderTheUncutGrant (no rounding): Keeper.Tick
// opens the device on HoldsGrant, the resumed grant's uncut expiry; the cut
// for a longer timeout (SetWatchdogTimeout) comes only after the open. A
// second successor p2 that resumes the same grant (p1 got no grant of its
// own: the host is cut off) therefore opens the device until E, though the
// device already has p1's longer timeout and the grant cut for it ended
// long ago; it then holds the device, and its exit is one more release
// ping, worth the longer timeout. p1's three touches (its last feed under
// the cut grant, one late feed, its release) already reach E + 3W; p2's
// release adds W' more. The isolation is 60 s here (a cut of three
// differences must fit in it), W 10 s, W' 28 s.
func TestAttack16ThirdProcessOpensUnderTheUncutGrant(t *testing.T) {
	const d, w0, w1 = 60 * time.Second, 10 * time.Second, 28 * time.Second
	var now time.Duration
	dev := kernel(&now)
	clock := func() time.Duration { return now }
	newP := func(id string, saved *Saved, w time.Duration) (*Contract, *Keeper) {
		c, err := NewContract("b1", id, d, false, saved)
		if err != nil {
			t.Fatal(err)
		}
		k, err := NewKeeper(c, dev, w, clock, RespondNone, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	c0, k0 := newP("p0", nil, w0)
	now = 50 * time.Second
	c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if _, err := k0.Tick(now); err != nil || !c0.Armed() {
		t.Fatalf("p0 not armed: %v", err)
	}
	const ts = 100 * time.Second
	now = ts
	saved, ok := c0.Granted(grantFor(c0.Report(now, decision.SelfReport{}), true))
	if !ok || saved.WatchdogTimeout != w0 {
		t.Fatalf("p0's saved state %+v", saved)
	}
	_, _ = k0.Tick(now)
	e := ts + d                                        // the grant's end: 160 s
	bound := e + safetime.WatchdogTimers*w0            // 190 s
	cutEnd := ts + d - safetime.WatchdogTimers*(w1-w0) // 106 s

	// Cut off. p0 crashes at 100.5 s; p1 (28 s) resumes, sets 28 s under
	// the grant cut for it and feeds until 106 s.
	now = ts + 500*time.Millisecond
	dev.Exit()
	c1, k1 := newP("p1", &saved, w1)
	for now = ts + time.Second; now < cutEnd; now += time.Second {
		if _, err := k1.Tick(now); err != nil {
			t.Fatal(err)
		}
	}
	if !c1.Armed() {
		t.Fatal("p1 did not arm under the grant cut for 28 s")
	}
	// Its last check, at 105.9 s, passes; p1 is stopped right after it and
	// the write lands 0.1 s before the reset its last feed left.
	check := cutEnd - 100*time.Millisecond
	_, last, _ := dev.Active()
	now = last + w1 - 100*time.Millisecond
	if _, err := k1.Tick(check); err != nil {
		t.Fatal(err)
	}
	// p1 is killed at 159.5 s, before E: its release ping.
	now = e - 500*time.Millisecond
	dev.Exit()
	// p2, configured as p1, starts at 159.8 s and resumes the same grant.
	c2, k2 := newP("p2", &saved, w1)
	now = e - 200*time.Millisecond
	if _, err := k2.Tick(now); err != nil {
		t.Fatal(err)
	}
	if !dev.Held() {
		return // p2 holds nothing: its exit pings nothing
	}
	// p2 is killed just before the reset: one more release ping.
	_, last, timeout := dev.Active()
	now = last + timeout - 100*time.Millisecond
	dev.Exit()
	active, last, timeout := dev.Active()
	if !active {
		t.Fatal("the watchdog stopped")
	}
	if reset := last + timeout; reset > bound {
		t.Fatalf("the host resets at %v, after %v (E + 3W): p2 opened the device at %v under the resumed grant's uncut expiry %v, though the device's timeout was %v and the grant cut for it ended at %v (armed %v): its release ping is a fourth",
			reset, bound, e-200*time.Millisecond, e, w1, cutEnd, c2.Armed())
	}
}
