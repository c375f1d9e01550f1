package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Sampler is what the host's probes say of it now: its services and
// guests (SelfReport without the contract's fields, which Agent stamps).
// A probe that cannot look says so in the report (a service not running,
// GuestsUnknown); Sample never blocks past ctx.
type Sampler interface {
	Sample(ctx context.Context) decision.SelfReport
}

// Outbox carries the agent's messages to the controllers on one network:
// directly, or through a peer that relays them. A message lost on the way
// is the network's business: the contract never counts on one arriving.
type Outbox interface {
	Report(ctx context.Context, network string, r decision.AgentReport) error
	Stopping(ctx context.Context, network string, s decision.AgentStopping) error
}

// Agent is one agent process: every Interval it samples the host, stamps
// the report with its contract and sends it on every network, and feeds
// the watchdog only while the contract holds a grant (Keeper). Grants and
// acks arrive by Granted and Acked, from any network or relay. Times are
// CLOCK_BOOTTIME readings (BootTime), as the contract counts.
//
// Step, Granted, Acked and Stop are the whole behaviour and take the time
// as an argument, so tests and the simulator drive it on their own clock;
// Run is the loop that drives them on the host's.
type Agent struct {
	host     string
	networks []string
	c        *Contract
	k        *Keeper
	sampler  Sampler
	out      Outbox
	stateDir string // "" keeps nothing for a successor
	log      *slog.Logger
	stop     *decision.AgentStopping
	// beat writes the storage heartbeat each Step (SetHeartbeat); granted
	// is when a grant last moved the contract's expiry.
	beat    Heartbeat
	granted time.Duration
	beatErr string
	// gate answers libvirt's hook (SetGate): set after every grant and
	// every tick.
	gate *Gate
}

// SetGate makes a answer the guest-start gate g.
func (a *Agent) SetGate(g *Gate) { a.gate = g; g.Set(a.c.GuestsUntil()) }

// Heartbeat writes the host's storage heartbeat: heartbeat.Writer.
type Heartbeat interface {
	Beat(ctx context.Context, guests int, granted time.Duration, now time.Time) error
}

// SetHeartbeat makes every Step write the storage heartbeat too, with the
// running guests and how long ago the last grant came. A write that fails
// (the storage cut, or the host blocklisted) is logged once per change:
// the controllers see the counter stop, which is the point.
func (a *Agent) SetHeartbeat(h Heartbeat) { a.beat = h }

// New is an agent process of host, reporting on networks, with contract c
// and keeper k (which share c). stateDir is where it keeps what its
// successor on the same boot resumes from (LoadState).
func New(host string, networks []string, c *Contract, k *Keeper, s Sampler, out Outbox, stateDir string, log *slog.Logger) (*Agent, error) {
	switch {
	case host == "":
		return nil, errors.New("agent: host: empty; set it to the host's name as Nova knows it (the hypervisor hostname)")
	case len(networks) == 0:
		return nil, errors.New("agent: networks: none; name at least one network the agent reports on, e.g. mgmt")
	case c == nil || k == nil || k.c != c:
		return nil, errors.New("agent: the keeper must drive this agent's own contract")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stateDir != "" {
		// The device's timeout is written before it is set: a successor
		// never asks for another (Saved.DeviceTimeout).
		k.SaveWith(func(s Saved) error { return SaveState(stateDir, s) })
	}
	return &Agent{host: host, networks: slices.Clone(networks), c: c, k: k, sampler: s, out: out, stateDir: stateDir,
		log: log.With("host", host, "agent", c.ID(), "boot", c.Boot())}, nil
}

// Step is one round at now: the report on every network (or, stopping, the
// notice again: it may have been lost), then the keeper's turn: feed, or the
// isolation response once the grant has run out.
func (a *Agent) Step(ctx context.Context, now time.Duration) {
	if a.stop != nil {
		a.sendStop(ctx)
	} else {
		self := a.sampler.Sample(ctx)
		for _, n := range a.networks {
			// Each network's report is its own message, numbered on
			// its own: a grant answers the one that reached the leader.
			r := decision.AgentReport{Host: a.host, Network: n, Self: a.c.Report(now, self)}
			if err := a.out.Report(ctx, n, r); err != nil {
				a.log.Debug("report not sent", "network", n, "err", err)
			}
		}
		if a.beat != nil {
			guests := len(self.Domains)
			if self.GuestsUnknown {
				guests = -1 // never "none": that would prove a reboot ran nothing
			}
			a.heartbeat(ctx, guests, now)
		}
	}
	a.tick(now)
}

func (a *Agent) heartbeat(ctx context.Context, guests int, now time.Duration) {
	err := a.beat.Beat(ctx, guests, now-a.granted, time.Now())
	switch {
	case err != nil && err.Error() != a.beatErr:
		a.beatErr = err.Error()
		a.log.Warn("storage heartbeat not written", "err", err)
	case err == nil && a.beatErr != "":
		a.beatErr = ""
		a.log.Info("storage heartbeat written again")
	}
}

func (a *Agent) tick(now time.Duration) {
	what, err := a.k.Tick(now)
	if a.gate != nil {
		a.gate.Set(a.c.GuestsUntil())
	}
	if what != "" {
		a.log.Warn(what)
	}
	if err != nil {
		a.log.Error("watchdog or isolation response failed", "err", err)
	}
}

// Granted takes a grant arriving at now. The watchdog is fed at once when
// it is valid (a late grant for an old report may still be), and what a
// successor resumes from is written before Granted returns.
func (a *Agent) Granted(now time.Duration, g decision.Grant) {
	if g.Host != a.host {
		return
	}
	saved, moved := a.c.Granted(g)
	if moved {
		a.granted = now
	}
	if moved && a.stateDir != "" {
		if err := SaveState(a.stateDir, saved); err != nil {
			// Safe: a successor resumes from an older grant, or none,
			// and stops feeding sooner.
			a.log.Error("grant not kept for a successor", "err", err)
		}
	}
	a.tick(now)
}

// Acked takes an acknowledgement; it reports whether it ended this
// process's clean stop (the watchdog is disarmed).
func (a *Agent) Acked(ack decision.Ack) (bool, error) {
	if ack.Host != a.host {
		return false, nil
	}
	return a.k.Acked(ack)
}

// Stop begins a clean stop: the notice goes out on every network now and
// at every later Step until Acked says the leader acknowledged it. Until
// then the watchdog is fed only while the last grant lasts, and the
// process must not exit having disarmed it.
func (a *Agent) Stop(ctx context.Context) {
	if a.stop == nil {
		s := a.c.Stop()
		s.Host = a.host
		a.stop = &s
	}
	a.sendStop(ctx)
}

func (a *Agent) sendStop(ctx context.Context) {
	for _, n := range a.networks {
		if err := a.out.Stopping(ctx, n, *a.stop); err != nil {
			a.log.Debug("stop notice not sent", "network", n, "err", err)
		}
	}
}

// Inbound is a grant or an ack that reached the agent.
type Inbound struct {
	Grant *decision.Grant
	Ack   *decision.Ack
}

// Run drives a on clock every interval and on every message from in, until
// ctx ends. Then it stops cleanly: the notice is sent every interval until
// the leader acknowledges it, or until stopWait has passed; without an ack
// it returns with the watchdog still running (the host resets when the
// last grant's time is up, as the controllers assume: a stop nobody
// acknowledged is an isolation).
func (a *Agent) Run(ctx context.Context, clock func() time.Duration, interval, stopWait time.Duration, in <-chan Inbound) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	a.Step(ctx, clock())
	for {
		select {
		case <-ctx.Done():
			return a.stopping(clock, interval, stopWait, in)
		case m := <-in:
			a.take(clock(), m)
		case <-t.C:
			a.Step(ctx, clock())
		}
	}
}

func (a *Agent) take(now time.Duration, m Inbound) (acked bool, err error) {
	switch {
	case m.Grant != nil:
		a.Granted(now, *m.Grant)
	case m.Ack != nil:
		return a.Acked(*m.Ack)
	}
	return false, nil
}

func (a *Agent) stopping(clock func() time.Duration, interval, stopWait time.Duration, in <-chan Inbound) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	a.Stop(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = a.k.Abandon() // closed without the magic: it runs on
			return fmt.Errorf("agent: no controller acknowledged the clean stop within %v: the watchdog still runs and resets the host once its last grant is up (it is treated as isolated)", stopWait)
		case m := <-in:
			acked, err := a.take(clock(), m)
			if acked {
				return err
			}
		case <-t.C:
			a.Step(ctx, clock())
		}
	}
}
