package decision

import (
	"fmt"
	"time"
)

// doubt updates the observer self-doubt: when the controller has lost every
// network to most hosts at once, it is more likely blind than they are dead.
func (e *Engine) doubt(now time.Time) {
	total, lost := 0, 0
	for _, name := range e.order {
		h := e.hosts[name]
		if h.maintenance {
			continue
		}
		total++
		if !fresh(h.lastAgent(), now, e.cfg.AgentTimeout) {
			lost++
		}
	}
	was := e.frozen
	e.frozen = lost >= e.cfg.DoubtMinHosts && float64(lost) > e.cfg.DoubtFraction*float64(total)
	if e.frozen {
		e.frozenWhy = fmt.Sprintf("controller lost contact with %d of %d hosts at once (more than %.0f%%): it may be the blind one; automatic fencing frozen", lost, total, e.cfg.DoubtFraction*100)
	}
	if was && !e.frozen {
		// Silence measured while the controller was blind is no evidence:
		// re-arm every host as a new leader would.
		e.frozenWhy = ""
		e.rearmUntil = now.Add(e.cfg.FailoverGrace)
	}
}

// gate applies the cluster rules to a host that evidence says has failed.
// It returns a non-empty code when vigil must not start fencing it now.
func (e *Engine) gate(now time.Time, h *host) (code, why string) {
	if until := e.leaderSince.Add(e.cfg.FailoverGrace); now.Before(until) {
		return "failover-grace", fmt.Sprintf("new leader since %s: no host is judged before %s", e.leaderSince.Format("15:04:05.0"), until.Format("15:04:05.0"))
	}
	if e.frozen {
		return "observer-blind", e.frozenWhy
	}
	if now.Before(e.rearmUntil) {
		return "failover-grace", fmt.Sprintf("the controller just regained sight of most hosts: no host is judged before %s", e.rearmUntil.Format("15:04:05.0"))
	}
	if !h.released {
		if h.braked {
			// The brake holds a host until an operator releases or confirms
			// it, or it recovers: letting the window run out would only delay
			// the mass fencing it exists to prevent.
			return "brake", "mass-failure brake: held since it tripped; release with vigil release " + h.Name + " or confirm it is off"
		}
		if code, why := e.brake(now, h); code != "" {
			h.braked = true
			return code, why
		}
	}
	if e.counts.inFlight >= e.cfg.MaxConcurrentFences {
		return "fence-slots", fmt.Sprintf("%d fences already running (max_concurrent_fences %d)", e.counts.inFlight, e.cfg.MaxConcurrentFences)
	}
	return "", ""
}

// brake trips when too many hosts went bad within the window: a mass failure
// is more likely a network or power event than independent host deaths, and
// fencing half a cloud would make it worse.
func (e *Engine) brake(now time.Time, h *host) (code, why string) {
	all := e.counts.bad
	d := e.counts.domains[h.Domain]
	inDomain, domainSize := d.bad, d.size
	if all > e.cfg.BrakeMaxHosts {
		return "brake", fmt.Sprintf("mass-failure brake: %d hosts went bad within %v (max_hosts %d); fencing held for an operator (vigil confirm/release)", all, e.cfg.BrakeWindow, e.cfg.BrakeMaxHosts)
	}
	if domainSize > 0 && float64(inDomain) > e.cfg.BrakeMaxFraction*float64(domainSize) {
		dom := h.Domain
		if dom == "" {
			dom = "default"
		}
		return "brake", fmt.Sprintf("mass-failure brake: %d of %d hosts of domain %s went bad within %v (max_fraction %.2f); fencing held for an operator", inDomain, domainSize, dom, e.cfg.BrakeWindow, e.cfg.BrakeMaxFraction)
	}
	return "", ""
}

// counts are the tallies the cluster rules need, taken once per Tick so the
// rules cost O(1) per host instead of a scan of the cluster.
type counts struct {
	since    time.Time // start of the brake window
	bad      int       // hosts that went bad within the window
	inFlight int       // fences running or being retried
	domains  map[string]domainCount
}

type domainCount struct{ bad, size int }

func (c *counts) reset(since time.Time) {
	c.since, c.bad, c.inFlight = since, 0, 0
	if c.domains == nil {
		c.domains = map[string]domainCount{}
	}
	clear(c.domains)
}

func (c *counts) add(h *host) {
	if h.inc != nil && h.state == Fencing && h.inc.fence == nil {
		c.inFlight++
	}
	if h.maintenance {
		return
	}
	d := c.domains[h.Domain]
	d.size++
	if !h.badSince.IsZero() && !h.badSince.Before(c.since) {
		c.bad++
		d.bad++
	}
	c.domains[h.Domain] = d
}
