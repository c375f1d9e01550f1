package scenario

import (
	"slices"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// stuckMargin covers a fence and the executor's round trips after the
// engine's own timings.
const stuckMargin = 10 * time.Second

// stuck lists the hosts vigil holds at the end of the run by a cluster rule
// (the brake, observer self-doubt) although that rule's event is over: the
// host is powered off, and for a whole quiet period before the end (brake
// window + dead_after + failover_grace + a margin) nothing else touched the
// cluster: no other fault was in effect, except the power loss, begun
// before that period, of a host vigil fenced. Such a host is a lone, real
// failure that nothing but an operator would ever free: the liveness bug of
// a rule that counts the wrong things.
func (r *Result) stuck(cfg decision.Config) []string {
	end := time.Duration(r.Scenario.Duration)
	quiet := end - (cfg.BrakeWindow + cfg.DeadAfter + cfg.FailoverGrace + stuckMargin)
	var out []string
	for _, st := range r.Controller.Status() {
		if !st.Held || (st.Rule != "brake" && st.Rule != "observer-blind") {
			continue
		}
		if h := r.World.Host(st.Name); h == nil || h.On || quiet <= 0 {
			continue
		}
		calm := true
		for _, f := range r.Scenario.Faults {
			from, to := f.span(end)
			if f.Host == st.Name || to <= quiet {
				continue
			}
			if f.Power == "off" && from < quiet && r.Controller.Fenced[f.Host] {
				continue // handled long enough ago
			}
			calm = false
			break
		}
		if calm {
			out = append(out, st.Name)
		}
	}
	slices.Sort(out)
	return out
}

// span is when a fault is in effect: from its start to its end, or to the
// end of the run when it lasts. Operator commands have no effect span.
func (f Fault) span(end time.Duration) (from, to time.Duration) {
	at, dur := time.Duration(f.At), time.Duration(f.For)
	lasting := func() time.Duration {
		if dur > 0 {
			return at + dur
		}
		return end
	}
	switch {
	case f.Confirm != "" || f.Rejoin != "" || f.Release != "" || f.Power == "on" || f.BMC == "reachable" || f.Storage == "reachable" || f.Maintenance == "off" || f.Pause == "off":
		return at, at
	case f.Flap != "":
		return at, at + time.Duration(f.Period)*time.Duration(f.Count)
	case f.Kill != "":
		return at, at + 3*time.Second // a standby leads after the election
	}
	return at, lasting()
}
