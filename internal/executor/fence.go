package executor

import (
	"context"
	"fmt"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// Topologies finds a host's fencing topology.
type Topologies interface {
	Topology(host string) (fence.Topology, error)
}

// Fence runs one decision.ActFence action: the level it names, on the host
// it names, and reports a FenceResult whose OK means verified.
func Fence(ctx context.Context, topos Topologies, a decision.Action, report func(fence.Step)) decision.FenceResult {
	res := decision.FenceResult{Host: a.Host, Level: a.Level}
	if a.Kind != decision.ActFence {
		res.Err = fmt.Sprintf("executor: %s is not a fence action", a.Kind)
		return res
	}
	topo, err := topos.Topology(a.Host)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	if a.Level >= 1 && a.Level <= len(topo.Levels) {
		res.Method = drivers(topo.Levels[a.Level-1])
	}
	if a.ProbeAborts && topo.Probe != nil && a.Level >= 1 && a.Level <= len(topo.Levels) && powers(topo.Levels[a.Level-1]) {
		// The last look before the power-off: a host that answers was
		// judged on stale evidence (its reports are still on the way).
		// The engine judges it again; it clears ProbeAborts when only a
		// ping answers (a hung userspace).
		if answers, what, err := topo.Probe.Answers(ctx); err == nil && answers {
			res.Aborted, res.Err = decision.AbortHostAnswers, what
			if report != nil {
				report(fence.Step{Level: a.Level, Op: "probe", Detail: "host answers before the power-off: " + what})
			}
			return res
		}
	}
	out, err := topo.OffLevel(ctx, a.Level, report)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.OK, res.Proof = true, out.Summary()
	return res
}

func powers(ms []fence.Member) bool {
	for _, m := range ms {
		if m.Power {
			return true
		}
	}
	return false
}

func drivers(ms []fence.Member) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += "+"
		}
		s += m.Driver
	}
	return s
}
