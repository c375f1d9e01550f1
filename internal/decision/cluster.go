package decision

import (
	"fmt"
	"strings"
	"time"
)

// The cluster rules count, once per Tick, what each of them means:
//
//   - Observer self-doubt counts live hosts (not in maintenance, not in an
//     incident, not already bad before the event) to which the controller
//     lost every path at once: agent on every network, every peer report
//     relayed by hosts it still hears, the storage heartbeat. A host some
//     path still shows is not lost to the controller's eyes (agents stopped
//     for an upgrade while peers reach the host are not blindness), nor is
//     one whose BMC reads it off. Nova's service state does not count: it
//     reads "up" for service_down_time after a host died, so it cannot tell
//     a blind controller from a dead host in the first minute, which is when
//     the rule matters. "At once" is within dead_after: a host that went dark
//     earlier was judged on its own before the others went dark.
//   - The mass-failure brake counts hosts judged failed by evidence within
//     brake.window (a suspect blip is not a failure), plus the hosts it still
//     holds, whenever they failed: otherwise the window running out would
//     release a whole mass failure at once. The fraction of a domain applies
//     only from 2 failed hosts in that domain: one failure is never a
//     domain-wide event, whatever the domain's size.

// doubtWindow is how close together hosts must go dark to be lost "at once".
func (e *Engine) doubtWindow() time.Duration { return e.cfg.DeadAfter }

// counts are the tallies the cluster rules need, taken once per Tick so the
// rules cost O(1) per host instead of a scan of the cluster.
type counts struct {
	since    time.Time // start of the brake window
	failed   int       // hosts the brake counts (see above)
	counted  []*host   // those hosts, for the alert text
	inFlight int       // fences running or being retried
	domains  map[string]domainCount

	doubtRef  time.Time // hosts dark since before this are not lost "at once"
	judgeFrom time.Time // a new leader judges no silence before its grace ends
	live      int       // hosts the self-doubt rule weighs
	dark      []string  // of them, those the controller lost every path to
	darkWas   int       // len(dark) when frozenWhy was written
	liveWas   int
}

type domainCount struct{ failed, size int }

func (c *counts) reset(since, doubtRef, judgeFrom time.Time) {
	c.since, c.failed, c.inFlight = since, 0, 0
	c.doubtRef, c.judgeFrom, c.live = doubtRef, judgeFrom, 0
	c.counted, c.dark = c.counted[:0], c.dark[:0]
	if c.domains == nil {
		c.domains = map[string]domainCount{}
	}
	clear(c.domains)
}

// add tallies into c one host whose assessment at now is a.
func (e *Engine) add(c *counts, h *host, a assessment, now time.Time) {
	if h.inc != nil && h.state == Fencing && h.inc.fence == nil {
		c.inFlight++
	}
	if h.maintenance {
		return
	}
	d := c.domains[h.Domain]
	d.size++
	if e.brakeCounts(c, h, a) {
		c.failed++
		d.failed++
		c.counted = append(c.counted, h)
	}
	c.domains[h.Domain] = d

	// Self-doubt.
	if h.state.inIncident() || (!h.badSince.IsZero() && h.badSince.Before(c.doubtRef)) {
		return // not live: handled, or bad before the event
	}
	onset := e.darkSince(h)
	if onset.Before(c.judgeFrom) {
		onset = c.judgeFrom
	}
	switch {
	case now.Before(onset):
		c.live++ // a path still shows it (or a new leader has not judged it yet)
	case onset.Before(c.doubtRef):
		// Dark since before the window: not part of this event.
	case h.bmc == PowerOff && fresh(h.bmcAt, now, e.cfg.BMCFreshness):
		c.live++ // the controller sees it: its BMC reads it off
	default:
		c.live++
		c.dark = append(c.dark, h.Name)
	}
}

// darkSince is when the last path that showed h alive expired: agent
// reports, peer reports and the storage heartbeat, each after its timeout.
// It is in the future while some path still shows the host, and zero for a
// host never seen.
func (e *Engine) darkSince(h *host) time.Time {
	var t time.Time
	later := func(at time.Time, d time.Duration) {
		if !at.IsZero() && at.Add(d).After(t) {
			t = at.Add(d)
		}
	}
	for i := range h.agentAt {
		later(h.agentAt[i], e.cfg.AgentTimeout)
		later(h.peerAt[i], e.cfg.PeerTimeout)
	}
	if h.storageSeen {
		later(h.storageMoved, e.cfg.StorageTimeout)
	}
	return t
}

// doubt decides the observer self-doubt from this Tick's tallies: when the
// controller lost every path to most live hosts at once, it is more likely
// blind than they are dead. Once frozen, it keeps weighing the hosts of the
// same event (doubtRef stays) until it sees enough of them again.
func (e *Engine) doubt(now time.Time) {
	c := &e.counts
	dark := len(c.dark)
	was := e.frozen
	e.frozen = dark >= e.cfg.DoubtMinHosts && float64(dark) > e.cfg.DoubtFraction*float64(c.live)
	switch {
	case e.frozen:
		if !was {
			e.doubtRef = c.doubtRef
		}
		if !was || dark != c.darkWas || c.live != c.liveWas {
			c.darkWas, c.liveWas = dark, c.live
			e.frozenWhy = fmt.Sprintf("the controller lost every path (agent, peers, storage heartbeat) to %d of %d live hosts within %v (%s): "+
				"it is more likely blind than they are dead (doubt.fraction %.0f%%, doubt.min_hosts %d); automatic fencing frozen until it sees them again; "+
				"confirm a host that really is off: vigil confirm HOST",
				dark, c.live, e.doubtWindow(), names(c.dark), e.cfg.DoubtFraction*100, e.cfg.DoubtMinHosts)
		}
	case was:
		// Silence measured while the controller was blind is no evidence:
		// re-arm every host as a new leader would.
		e.frozenWhy, e.doubtRef = "", time.Time{}
		e.rearmUntil = now.Add(e.cfg.FailoverGrace)
	}
}

// doubtRefAt is the start of the window in which hosts going dark count as
// one event: fixed while frozen, sliding otherwise.
func (e *Engine) doubtRefAt(now time.Time) time.Time {
	if e.frozen {
		return e.doubtRef
	}
	return now.Add(-e.doubtWindow())
}

// gate applies the cluster rules to a host that evidence says has failed.
// It returns a non-empty code when vigil must not start fencing it now;
// holdReason says why in words. It is hold, with the bookkeeping of a
// failure the rules accept: when the host failed, and whether the brake
// holds it.
func (e *Engine) gate(now time.Time, h *host) string {
	code := e.hold(now, h, &e.counts)
	switch code {
	case "failover-grace", "observer-blind", "paused":
		return code
	}
	// The failure is accepted as evidence from here on: the brake counts it.
	if !h.failedThisEpisode() {
		h.failedAt = now
	}
	if code == "brake" {
		h.braked = true
		return code
	}
	if h.braked && !h.released {
		// Lifted by itself: the mass failure is over.
		h.braked = false
		e.alert(h, "brake-lifted", e.brakeLifted(&e.counts, h))
	}
	return code
}

// hold names the cluster rule that stops vigil from fencing failed h now,
// with c the tallies of every host at now, or "" when none does. It
// changes nothing: gate keeps the books, and Plan asks it of a host that
// has not failed.
func (e *Engine) hold(now time.Time, h *host, c *counts) string {
	switch {
	case now.Before(e.leaderSince.Add(e.cfg.FailoverGrace)):
		return "failover-grace"
	case e.frozen:
		return "observer-blind"
	case now.Before(e.rearmUntil):
		return "failover-grace"
	case e.paused != nil:
		return "paused"
	case !h.released && e.brakeRule(c, h) != "":
		return "brake"
	case c.inFlight >= e.cfg.MaxConcurrentFences:
		return "fence-slots"
	}
	return ""
}

// holdReason explains, in words, the hold gate returned for h, with c the
// tallies it was judged by.
func (e *Engine) holdReason(c *counts, now time.Time, h *host, code string) string {
	switch code {
	case "failover-grace":
		if until := e.leaderSince.Add(e.cfg.FailoverGrace); now.Before(until) {
			return fmt.Sprintf("new leader since %s: no host is judged before %s", e.leaderSince.Format("15:04:05.0"), until.Format("15:04:05.0"))
		}
		return fmt.Sprintf("the controller just regained sight of most hosts: no host is judged before %s", e.rearmUntil.Format("15:04:05.0"))
	case "observer-blind":
		return e.frozenWhy
	case "brake":
		return e.brakeWhy(c, h)
	case "fence-slots":
		return fmt.Sprintf("%d fences already running (max_concurrent_fences %d)", c.inFlight, e.cfg.MaxConcurrentFences)
	case "paused":
		p := e.paused
		if p == nil {
			return ""
		}
		why := "vigil is paused"
		if p.By != "" {
			why += " by " + p.By
		}
		if p.Reason != "" {
			why += " (" + p.Reason + ")"
		}
		return why + " since " + e.pausedAt.Format("15:04:05") + ": no host is fenced until vigil resume; incidents already open carry on"
	}
	return ""
}

// brakeCounts reports whether the brake counts h: failed within the window,
// held by the brake, or judged failed this Tick (it is accepted as a failure
// in this Tick whenever the brake is consulted at all).
func (e *Engine) brakeCounts(c *counts, h *host, a assessment) bool {
	switch {
	case !h.failedAt.IsZero() && !h.failedAt.Before(c.since):
		return true
	case h.braked && h.inc == nil:
		return true
	}
	return a.state == Failed && !h.state.inIncident() && !h.failedThisEpisode()
}

// brakeRule names the brake rule that holds h now, or "".
func (e *Engine) brakeRule(c *counts, h *host) string {
	if c.failed > e.cfg.BrakeMaxHosts {
		return "max_hosts"
	}
	if d := c.domains[h.Domain]; d.failed >= 2 && float64(d.failed) > e.cfg.BrakeMaxFraction*float64(d.size) {
		return "max_fraction"
	}
	return ""
}

// brakeWhy says what the brake counted and how the hold ends.
func (e *Engine) brakeWhy(c *counts, h *host) string {
	end := fmt.Sprintf("fencing held until the count is back within the limits (held hosts count), or vigil release %s, or vigil confirm %s if it is off", h.Name, h.Name)
	switch e.brakeRule(c, h) {
	case "max_hosts":
		return fmt.Sprintf("mass-failure brake: %s failed within %v or held by the brake (%s), more than brake.max_hosts %d: likelier a network or power event than independent deaths; %s",
			plural(c.failed, "host"), e.cfg.BrakeWindow, c.brakedNames(false, ""), e.cfg.BrakeMaxHosts, end)
	case "max_fraction":
		d := c.domains[h.Domain]
		return fmt.Sprintf("mass-failure brake: %s failed within %v or held by the brake (%s), more than brake.max_fraction %.2f of it (the fraction applies from 2 failed hosts of a domain): likelier a domain-wide event; %s",
			domainOf(h.Domain, d), e.cfg.BrakeWindow, c.brakedNames(true, h.Domain), e.cfg.BrakeMaxFraction, end)
	}
	return ""
}

// brakeLifted says why the brake let go of h by itself.
func (e *Engine) brakeLifted(c *counts, h *host) string {
	return fmt.Sprintf("mass-failure brake lifted for %s: now %s failed within %v or held (%s), within brake.max_hosts %d, and %s, within brake.max_fraction %.2f: the mass failure is over; %s is still failed and is fenced now",
		h.Name, plural(c.failed, "host"), e.cfg.BrakeWindow, c.brakedNames(false, ""), e.cfg.BrakeMaxHosts, domainOf(h.Domain, c.domains[h.Domain]), e.cfg.BrakeMaxFraction, h.Name)
}

// brakedNames lists the hosts the brake counts (of one domain when
// inDomain), with the time each failed when that is before the window.
func (c *counts) brakedNames(inDomain bool, domain string) string {
	var out []string
	for _, b := range c.counted {
		if inDomain && b.Domain != domain {
			continue
		}
		s := b.Name
		if !b.failedAt.IsZero() && b.failedAt.Before(c.since) {
			s += " held since " + b.failedAt.Format("15:04:05")
		}
		out = append(out, s)
	}
	return names(out)
}

func domainOf(domain string, d domainCount) string {
	if domain == "" {
		return fmt.Sprintf("%d of %d hosts without a domain", d.failed, d.size)
	}
	return fmt.Sprintf("%d of %d hosts of domain %s", d.failed, d.size, domain)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// names joins a list for an alert, shortened when long.
func names(list []string) string {
	const max = 10
	if len(list) > max {
		return strings.Join(list[:max], ", ") + fmt.Sprintf(" and %d more", len(list)-max)
	}
	return strings.Join(list, ", ")
}
