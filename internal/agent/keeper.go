package agent

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Response is what the agent does when its grant runs out (the host is
// isolated from the leader): the configured isolation response. It runs
// once per isolation; the watchdog is no longer fed either way, so the
// host resets even if the response, or the agent, hangs.
type Response string

const (
	RespondNone    Response = "none"     // only the watchdog acts
	RespondStopVMs Response = "stop-vms" // destroy every running guest first
	RespondReboot  Response = "reboot"   // reboot the host at once
)

// Keeper drives one agent process's watchdog from its contract: it opens
// the device on the process's first valid grant, feeds it while the
// contract allows, applies the isolation response once when the grant runs
// out, and disarms only on the acknowledgement of this process's own clean
// stop. Every touch of the device (open, timeout set, feed) comes right
// after a reading of the clock found a valid grant, one reading per touch:
// a process that never held a grant never holds the device, so its exit
// pings nothing (docs/architecture.md, "The device itself").
type Keeper struct {
	c     *Contract
	dev   Device   // nil: no watchdog (or none any more: disarmed, abandoned)
	wd    Watchdog // the open device; nil until a grant opened it
	want  time.Duration
	clock func() time.Duration
	// broken: the device opened but cannot be armed as configured. It is
	// held, never fed, never closed (a close would ping it): the host
	// resets, and every Tick says why.
	broken  error
	respond func(Response) error
	resp    Response
	// isolated: the response ran for the current isolation; it runs again
	// only after a grant ended it.
	isolated bool
	// started: the first Tick's time. A process that has had no grant yet
	// (a new boot, a lost state file) is isolated as far as feeding goes,
	// but gives the leader one isolation timeout to answer before the
	// response: the watchdog, unfed, is what makes that safe.
	started    time.Duration
	hasStarted bool
	// save writes what a successor resumes from (SaveWith); nil: nothing
	// is kept.
	save func(Saved) error
}

// SaveWith makes the keeper write what a successor resumes from with save
// whenever it gives the device its timeout, before it asks for it
// (Saved.DeviceTimeout): a successor then never asks for another.
func (k *Keeper) SaveWith(save func(Saved) error) { k.save = save }

func (k *Keeper) keep(s Saved) error {
	if k.save == nil {
		return nil
	}
	return k.save(s)
}

// NewKeeper ties contract c to watchdog device dev (nil for none), asking
// it for timeout; clock reads the contract's clock (BootTime) for the
// check before each touch. respond carries out the isolation response resp
// (destroying guests, rebooting). The contract must not say armed: a new
// process holds no device until its first grant.
func NewKeeper(c *Contract, dev Device, timeout time.Duration, clock func() time.Duration, resp Response, respond func(Response) error) (*Keeper, error) {
	switch resp {
	case RespondNone, RespondStopVMs, RespondReboot:
	default:
		return nil, fmt.Errorf("agent: isolation.response %q: want none, stop-vms or reboot", resp)
	}
	if c.Armed() {
		return nil, fmt.Errorf("agent: a new agent process must not start armed: the keeper opens the watchdog on its first grant")
	}
	if dev != nil {
		if timeout < time.Second || timeout%time.Second != 0 {
			return nil, fmt.Errorf("agent: watchdog.timeout %v: give whole seconds, at least 1s (the device counts seconds)", timeout)
		}
		if clock == nil {
			return nil, fmt.Errorf("agent: the keeper needs the contract's clock to check the grant before each touch of the watchdog")
		}
	}
	return &Keeper{c: c, dev: dev, want: timeout, clock: clock, respond: respond, resp: resp}, nil
}

// Holds reports whether the process holds the watchdog device open.
func (k *Keeper) Holds() bool { return k.wd != nil }

// Tick does what the contract says at now (CLOCK_BOOTTIME). It returns
// what it did for the log ("" when it only fed the watchdog or nothing was
// due) and any error of the device or the response.
func (k *Keeper) Tick(now time.Duration) (string, error) {
	if !k.hasStarted {
		k.started, k.hasStarted = now, true
	}
	if k.c.HoldsGrant(now) {
		k.isolated = false // a grant ends the isolation, watchdog or none
	}
	if k.broken != nil {
		return "", k.broken
	}
	if k.dev != nil && !k.c.Armed() && !k.c.Stopping() && k.c.HoldsGrant(now) {
		return k.arm(now)
	}
	if k.c.Feed(now) {
		if err := k.wd.Keepalive(); err != nil {
			return "", err
		}
		return "", nil
	}
	if !k.c.Isolated(now) || k.isolated || k.c.Stopping() || now < k.started+k.c.isolation {
		return "", nil
	}
	k.isolated = true
	what := fmt.Sprintf("no grant since %v: isolated; the watchdog is no longer fed", now)
	if k.resp == RespondNone {
		return what, nil
	}
	if err := k.respond(k.resp); err != nil {
		return what, fmt.Errorf("agent: isolation response %s: %w (the watchdog resets the host anyway)", k.resp, err)
	}
	return what + "; isolation response " + string(k.resp) + " done", nil
}

// arm opens the device (checked at now) and sets its timeout (checked
// again, after the open: a touch of its own) unless it already has it.
// The contract says armed, and the watchdog is fed, from the next Tick.
func (k *Keeper) arm(now time.Duration) (string, error) {
	set := k.c.DeviceTimeout()
	if k.wd == nil {
		// A device a process of this boot set may run with that
		// timeout: the open (some drivers ping on it) and this
		// process's exit (the kernel pings) are each worth it, so it
		// is opened only under the grant as cut for it.
		if set > 0 && !k.c.HoldsGrantWith(now, set) {
			return "", nil
		}
		wd, err := k.dev.Open()
		if err != nil {
			return "", err // a predecessor still exiting: the next grant tries again
		}
		k.wd = wd
		if err := fenceCapable(wd); err != nil {
			// Closing it stops such a timer; nothing ever counted it.
			// The process goes on as one without a watchdog (reports
			// say none, the isolation response still runs).
			_ = wd.Disarm()
			k.wd, k.dev = nil, nil
			return "", err
		}
	}
	got, err := k.wd.Timeout()
	if err != nil {
		k.broken = err
		return "", err
	}
	if set > 0 {
		// A successor never asks for a longer timeout than the boot's
		// device has: it could be rounded up past what the
		// predecessor's counted watchdog promised. A shorter one it may
		// ask for (the controllers' watchdog_timeout lowered, the
		// agent's file fixed after the watchdog-timeout alert): drivers
		// round a shorter request to no more than a longer one.
		if want, _ := k.target(); want < got && k.c.HoldsGrantWith(k.clock(), want) {
			if got2, err := k.wd.SetTimeout(want); err == nil {
				got = got2
			}
		}
		if got != set {
			if err := k.keep(k.c.DeviceSet(max(got, set))); err != nil {
				return "", fmt.Errorf("agent: the watchdog's timeout not kept for a successor: %w", err)
			}
		}
		k.c.Opened(got)
		return fmt.Sprintf("watchdog armed on a grant, timeout %v (a predecessor on this boot set the device; a successor asks for no longer)", got), nil
	}
	want, capped := k.target()
	if got != want {
		if !k.c.HoldsGrantWith(k.clock(), want) {
			return "watchdog opened; its timeout is set under the next grant", nil
		}
		// Written first: a successor must know a timeout was asked for
		// even if this process dies in the ioctl.
		if err := k.keep(k.c.DeviceSet(want)); err != nil {
			return "", fmt.Errorf("agent: the watchdog's timeout is not set: the state a successor needs was not written: %w", err)
		}
		if got, err = k.wd.SetTimeout(want); err != nil {
			k.broken = err
			return "", err
		}
	}
	if err := k.keep(k.c.DeviceSet(max(got, want))); err != nil {
		return "", fmt.Errorf("agent: the watchdog's timeout not kept for a successor: %w", err)
	}
	if got < want {
		// A shorter timer is safe for vigil (the host resets sooner)
		// but resets a healthy host whose grants come slower.
		k.broken = fmt.Errorf("agent: watchdog.device set its timeout to %v, below the %v asked for: set watchdog.timeout to %v or less (the device is left running unfed: the host resets)", got, want, got)
		return "", k.broken
	}
	k.c.Opened(got)
	what := fmt.Sprintf("watchdog armed on a grant, timeout %v", got)
	if capped {
		what += fmt.Sprintf(" (the leader's watchdog_timeout; watchdog.timeout %v is longer than the controllers' and is not used)", k.want)
	}
	return what, nil
}

// fenceCapable refuses a device that cannot be a fence: one whose driver
// stops the timer on any close (no WDIOF_MAGICCLOSE: a crash of the agent
// would stop it, where the contract needs the kernel's ping and the timer
// running on), or whose timer only raises an alarm (WDIOF_ALARMONLY, e.g.
// mei_wdt: it never resets the host).
func fenceCapable(wd Watchdog) error {
	opts, err := wd.Options()
	if err != nil {
		return err
	}
	switch {
	case opts&unix.WDIOF_ALARMONLY != 0:
		return fmt.Errorf("agent: watchdog.device is alarm-only (WDIOF_ALARMONLY): its timer never resets the host, so it cannot fence it; use softdog, iTCO_wdt, ipmi_watchdog or another resetting watchdog, or leave watchdog.device out")
	case opts&unix.WDIOF_MAGICCLOSE == 0:
		return fmt.Errorf("agent: watchdog.device has no magic close (WDIOF_MAGICCLOSE): its driver stops the timer when a crashed agent's device is closed, so it cannot fence the host; use softdog, iTCO_wdt, ipmi_watchdog or another watchdog with magic close, or leave watchdog.device out")
	}
	return nil
}

// target is the timeout to ask of the device: the configured one, or the
// leader's watchdog timeout when that is shorter (capped), in whole
// seconds: the leader's safe time counts its own, and a successor may
// count a predecessor's record while this process feeds (decision.Grant).
func (k *Keeper) target() (time.Duration, bool) {
	lw := k.c.LeaderWatchdogTimeout().Truncate(time.Second)
	if lw >= time.Second && lw < k.want {
		return lw, true
	}
	return k.want, false
}

// Abandon closes the device without disarming it (the process's exit
// without an acknowledged stop): Linux pings the timer once more, and it
// runs on. The process holds no device from then on.
func (k *Keeper) Abandon() error {
	k.dev = nil
	if k.wd == nil {
		return nil
	}
	err := k.wd.Abandon()
	k.wd = nil
	k.c.Abandoned()
	return err
}

// Acked hands the keeper an acknowledgement: when it is the one this
// process's clean stop waits for, the watchdog is disarmed (magic close).
func (k *Keeper) Acked(a decision.Ack) (bool, error) {
	if !k.c.Acked(a) {
		return false, nil
	}
	k.dev = nil
	if k.wd == nil {
		return true, nil
	}
	err := k.wd.Disarm()
	k.wd = nil
	return true, err
}
