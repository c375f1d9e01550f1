package executor

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// PowerWatch re-reads the power fences that open incidents rely on: for
// every host whose fence is the level of a power device, each Every, the
// status of that level's power devices, reported to the engine as a
// decision.BMCReading. A host someone powered on again is then evidence
// (fence-undone, or an alert once its guests have moved), never silence.
type PowerWatch struct {
	Topos Topologies
	// Every is how often one host is read; default 30s (a status call is a
	// BMC session: rate-limited per host).
	Every  time.Duration
	Report func(decision.BMCReading)
	Log    *slog.Logger

	last map[string]time.Time
}

// Round reads, at now, the hosts of status (the engine's Status) whose
// fence is a power fence and whose last read is Every old.
func (p *PowerWatch) Round(ctx context.Context, now time.Time, status []decision.HostStatus) {
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	every := p.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	for _, s := range status {
		if s.Fence == nil || s.Fence.Level < 1 || now.Sub(p.last[s.Name]) < every {
			continue
		}
		topo, err := p.Topos.Topology(s.Name)
		if err != nil || s.Fence.Level > len(topo.Levels) {
			continue
		}
		var power []fence.Member
		for _, m := range topo.Levels[s.Fence.Level-1] {
			if m.Power {
				power = append(power, m)
			}
		}
		if len(power) == 0 {
			continue
		}
		p.last[s.Name] = now
		p.Report(decision.BMCReading{Host: s.Name, Power: readPower(ctx, power, p.Log)})
	}
}

// readPower is what a level's power devices read together: on when any
// reads on (one live feed runs the host), off when every one reads off,
// else unreachable (that proves nothing either way).
func readPower(ctx context.Context, ms []fence.Member, log *slog.Logger) decision.Power {
	off := 0
	for _, m := range ms {
		st, err := m.Device.Status(ctx)
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
