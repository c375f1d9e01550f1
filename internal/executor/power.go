package executor

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// Reading every host's BMC all the time would cost a BMC session per host
// every few seconds (5,000 a second at 10,000 hosts: more than BMCs bear);
// reading none until a fence would leave a power loss to dead_after. So the
// controllers read a host's power only when it matters, by its state
// (PowerEvery): often while the host is quiet (its agent missed a report
// on every network) or silent and not yet fenced, where a BMC reading off
// fails it at half agent_timeout instead of dead_after, and
// while its instances are being moved, where a BMC reading on is the fence
// undone under the evacuation; now and then once they have moved and the
// host is kept down. The simulator reads its BMCs by the same rule.
const (
	// SuspectEvery is how often the power of a silent host, or of one
	// whose instances are being moved, is read.
	SuspectEvery = 2 * time.Second
	// FencedEvery is how often the power fence of an incident whose
	// instances have moved is read.
	FencedEvery = 30 * time.Second
)

// PowerEvery is how often a host in status s has its power read; 0: not
// at all.
func PowerEvery(s decision.HostStatus) time.Duration {
	switch s.State {
	case decision.Suspect, decision.Failed, decision.Fencing, decision.Fenced, decision.Recovering:
		return SuspectEvery
	}
	if s.Quiet && s.Fence == nil {
		// Missed a report on every network: read it now, so that a
		// power loss fails it at once, not at agent_timeout.
		return SuspectEvery
	}
	if s.Fence != nil && s.Fence.Level >= 1 {
		return FencedEvery
	}
	return 0
}

// PowerWatch reads the power of the hosts whose state calls for it
// (PowerEvery) through their topology's power devices, and reports each
// reading to the engine as a decision.BMCReading. A host someone powered on
// again is then evidence (fence-undone, or an alert once its guests have
// moved), never silence; a silent host whose BMC reads off has lost its
// power.
type PowerWatch struct {
	Topos Topologies
	// Fenced overrides FencedEvery (tests).
	Fenced time.Duration
	Report func(decision.BMCReading)
	Log    *slog.Logger
	// Parallel reads each due host in a goroutine of its own, bounded by
	// ReadTimeout, skipping a host whose last read is still out: a dead
	// BMC then costs its own host's read only. Report must then be safe
	// for concurrent use (Runner.Submit is). Off: Round reads in turn and
	// returns when done (the engine's tests step it in Report).
	Parallel    bool
	ReadTimeout time.Duration // default 10s
	// MaxInFlight bounds the parallel reads out at once (default 64): when
	// most hosts go quiet together (a switch, or the controller's own
	// network) a session with every BMC every 2 s would swamp the
	// controller and the BMC network; the hosts read longest ago go first,
	// the rest at a later round.
	MaxInFlight int

	mu       sync.Mutex
	last     map[string]time.Time
	inflight map[string]bool
}

// Round reads, at now, the hosts of status (the engine's Status) that are
// due: of a fenced host the power devices of its fence's level, of another
// those of the first level that has any.
func (p *PowerWatch) Round(ctx context.Context, now time.Time, status []decision.HostStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last, p.inflight = map[string]time.Time{}, map[string]bool{}
	}
	var due []decision.HostStatus
	for _, s := range status {
		every := PowerEvery(s)
		if every == FencedEvery && p.Fenced > 0 {
			every = p.Fenced
		}
		if every == 0 || now.Sub(p.last[s.Name]) < every || p.inflight[s.Name] {
			continue
		}
		due = append(due, s)
	}
	if p.Parallel {
		limit := p.MaxInFlight
		if limit <= 0 {
			limit = 64
		}
		free := limit - len(p.inflight)
		if len(due) > free {
			// Read longest ago first (never read: first of all), by name
			// among equals.
			slices.SortStableFunc(due, func(a, b decision.HostStatus) int { return p.last[a.Name].Compare(p.last[b.Name]) })
			due = due[:max(free, 0)]
		}
	}
	for _, s := range due {
		topo, err := p.Topos.Topology(s.Name)
		if err != nil {
			continue
		}
		var power []fence.Member
		for i, level := range topo.Levels {
			if s.Fence != nil && s.Fence.Level >= 1 && i != s.Fence.Level-1 {
				continue
			}
			for _, m := range level {
				if m.Power {
					power = append(power, m)
				}
			}
			if len(power) > 0 {
				break
			}
		}
		if len(power) == 0 {
			continue
		}
		p.last[s.Name] = now
		if !p.Parallel {
			p.Report(decision.BMCReading{Host: s.Name, Power: readPower(ctx, power, p.Log), Asked: now})
			continue
		}
		p.inflight[s.Name] = true
		go func(host string) {
			timeout := p.ReadTimeout
			if timeout <= 0 {
				timeout = 10 * time.Second
			}
			rctx, cancel := context.WithTimeout(ctx, timeout)
			pw := readPower(rctx, power, p.Log)
			cancel()
			// Dated from when it was asked (now, the caller's clock,
			// which is the engine's): a slow read's answer is what the
			// power was then.
			p.Report(decision.BMCReading{Host: host, Power: pw, Asked: now})
			p.mu.Lock()
			delete(p.inflight, host)
			p.mu.Unlock()
		}(s.Name)
	}
}

// readPower is what a level's power devices read together: on when any
// reads on (one live feed runs the host), off when every one reads off,
// else unreachable (that proves nothing either way).
func readPower(ctx context.Context, ms []fence.Member, log *slog.Logger) decision.Power {
	off := 0
	for _, m := range ms {
		st, err := m.ReadStatus(ctx)
		switch {
		case err != nil:
			if log != nil {
				log.Warn("power fence unreadable", "member", m.Name, "err", err)
			}
		case st == fence.StatusOn:
			return decision.PowerOn
		case st == fence.StatusOff:
			off++
		}
	}
	if off == len(ms) {
		return decision.PowerOff
	}
	return decision.PowerUnreachable
}
