package agent

import (
	"fmt"
	"time"

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

// Keeper drives one agent process's watchdog from its contract: it feeds
// the device while the contract allows, applies the isolation response once
// when the grant runs out, and disarms only on the acknowledgement of this
// process's own clean stop.
type Keeper struct {
	c       *Contract
	wd      Watchdog // nil: no watchdog (the contract's armed is false)
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
}

// NewKeeper ties contract c to watchdog wd (nil for none). respond carries
// out the isolation response resp (destroying guests, rebooting).
func NewKeeper(c *Contract, wd Watchdog, resp Response, respond func(Response) error) (*Keeper, error) {
	switch resp {
	case RespondNone, RespondStopVMs, RespondReboot:
	default:
		return nil, fmt.Errorf("agent: isolation.response %q: want none, stop-vms or reboot", resp)
	}
	if (wd != nil) != c.Armed() {
		return nil, fmt.Errorf("agent: the contract says armed %v but a watchdog device is %v", c.Armed(), wd != nil)
	}
	return &Keeper{c: c, wd: wd, respond: respond, resp: resp}, nil
}

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

// Acked hands the keeper an acknowledgement: when it is the one this
// process's clean stop waits for, the watchdog is disarmed (magic close).
func (k *Keeper) Acked(a decision.Ack) (bool, error) {
	if !k.c.Acked(a) {
		return false, nil
	}
	if k.wd == nil {
		return true, nil
	}
	return true, k.wd.Disarm()
}
