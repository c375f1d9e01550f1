package decision

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A fenced host coming back: rejoining cleanly, stalling, falling silent
// again (a new fence round), or found no longer fenced.

// rejoinStalled tells the operator about a host whose fence was lifted
// while some of its instances had not moved, and that has shown no life
// since: rejoining waits for it to come back, which an off host never does,
// and its instances have no other copy. A confirm would let them move.
func (e *Engine) rejoinStalled(now time.Time, h *host) {
	inc := h.inc
	var held []string
	for _, in := range inc.instances {
		if !inc.done[in] && !inc.maybeSent(in) {
			held = append(held, in)
		}
	}
	since := h.inc.rejoinSince
	if since.IsZero() {
		since = h.since // restored: since this leader began
	}
	quiet := now.Sub(since)
	if last := h.lastAgent(); last.After(since) {
		quiet = now.Sub(last)
	}
	if len(held) > 0 && quiet >= e.cfg.DeadAfter && e.assess(h, now).state == Failed && e.mayRefence(now) {
		// Silent on every path for dead_after: failed again, whatever
		// its BMC reads (it reads on: a confirm would be refused, and
		// nothing else would ever move its guests). Fence it again.
		e.refence(now, h, quiet)
		return
	}
	if len(held) == 0 || e.showsLife(now, h) != "" || quiet < e.cfg.DeadAfter {
		inc.stalled = false
		return
	}
	inc.stalled = true
	e.alert(h, "rejoin-stalled", fmt.Sprintf("%s's fence was lifted before %s moved, and it has shown no life for %v: they have no other copy and are held. If it is off, confirm it (vigil confirm %s) and vigil moves them; if it is booting, wait for it",
		h.Name, strings.Join(held, ", "), quiet.Round(time.Second), h.Name))
}

// mayRefence reports whether no cluster-wide hold stops a new fence round:
// a new leader's grace, an observer that doubts itself.
func (e *Engine) mayRefence(now time.Time) bool {
	return !now.Before(e.leaderSince.Add(e.cfg.FailoverGrace)) && !e.frozen && !now.Before(e.rearmUntil)
}

// refence starts a new fence round for a rejoining host that fell silent
// again: same incident (what moved stays moved), fence from level 1.
func (e *Engine) refence(now time.Time, h *host, quiet time.Duration) {
	inc := h.inc
	inc.prior, inc.priorLost = inc.fence, inc.fenceLost
	inc.fence, inc.fenceLost, inc.level, inc.attempts, inc.nextTry, inc.roundErrs = nil, "", 1, 0, time.Time{}, nil
	inc.unreadable, inc.rechecks, inc.stalled = "", 0, false
	e.transition(now, h, Fencing, "rejoin-silent", []string{fmt.Sprintf("its fence was undone and it came back, then fell silent on every path for %v", quiet.Round(time.Second)), "failed again: fencing it before its held instances move"})
	e.persist(h)
	e.sendFence(now, h)
}

// backToRejoining ends a fence round of a host some of whose instances
// have moved, when the host shows life before the fence took: nothing was
// done to it, and with copies elsewhere it may only rejoin cleanly (its
// guests that moved must be gone first), never simply be closed and
// unfenced as an aborted first fence is.
func (e *Engine) backToRejoining(now time.Time, h *host, ev []string) {
	inc := h.inc
	inc.fence, inc.fenceLost = inc.prior, inc.priorLost
	if inc.fence == nil {
		// Restored mid-round: the undone fence is not on record.
		inc.fence = &Fence{At: inc.opened, Method: "undone", Proof: "a fence of this incident, undone before a new round"}
	}
	inc.prior, inc.priorLost, inc.inFlight = nil, "", false
	e.transition(now, h, Rejoining, "fence-aborted", append(ev, "instances of this incident moved already: it waits for a clean rejoin"))
	e.persist(h)
	e.alert(h, "fence-aborted", fmt.Sprintf("%s showed life before its new fence took; some of its instances run elsewhere already: vigil waits for it to rejoin cleanly (its moved guests gone)", h.Name))
}

// anyMoved reports whether any instance of h's incident was, or may have
// been, started elsewhere: moved, sent, or placed by Nova on another host
// now (an evacuation a predecessor sent, that this leader never heard of).
func (h *host) anyMoved() bool {
	inc := h.inc
	for _, in := range inc.instances {
		if inc.done[in] || inc.maybeSent(in) {
			return true
		}
		if !h.novaAt.After(inc.opened) {
			continue
		}
		if !slices.Contains(h.nova.Instances, in) {
			return true
		}
		switch h.nova.Status[in] {
		case NovaActive, NovaShutoff, NovaError:
		default:
			// REBUILD: Nova accepted an evacuation and keeps the
			// instance here until its destination takes it (minutes,
			// with a slow conductor); MIGRATING and the like: a copy may
			// run elsewhere (found by attack14).
			return true
		}
	}
	return false
}

// undone stops recovery of a host whose fence no longer holds and waits for
// it to rejoin cleanly.
func (e *Engine) undone(now time.Time, h *host, why string) {
	inc := h.inc
	var limbo []string
	for _, in := range inc.instances {
		// Only calls Nova may have accepted: one the executor stopped at
		// its fence re-read never reached Nova, and that guest's only copy
		// is still on the host.
		if !inc.done[in] && inc.maybeSent(in) {
			limbo = append(limbo, in)
		}
	}
	e.transition(now, h, Rejoining, "fence-undone", []string{why, fmt.Sprintf("evacuation stopped: %d of %d instances moved; the rest stay with %s", len(inc.done), len(inc.instances), h.Name)})
	e.persist(h)
	msg := fmt.Sprintf("%s: %s; vigil stopped evacuating and waits for a clean rejoin", h.Name, why)
	if len(limbo) > 0 {
		msg += fmt.Sprintf("; evacuations of %s were sent but not seen finished: check them (openstack server show)", strings.Join(limbo, ", "))
	}
	e.alert(h, "fence-undone", msg)
}

// rejoinBar is what stands between a rejoining host and its rejoin.
type rejoinBar int

const (
	barNone   rejoinBar = iota // clean: it may rejoin
	barWait                    // not known yet: this leader has not heard its agent, or Nova has not listed it since the fence
	barSilent                  // its agent was heard, and fell silent
	barDirty                   // it runs, or may run, what it must not, or nova-compute is stopped: alerted rejoin-blocked
)

// rejoinCheck says whether h is clean now: it runs no guest that Nova now
// places elsewhere or that vigil moved away (nova-compute destroys those
// when it starts), nova-compute runs, and no other host runs a guest Nova
// places on it. When not, it says why in words.
func (e *Engine) rejoinCheck(now time.Time, h *host) (rejoinBar, string) {
	if last := h.lastAgent(); !fresh(last, now, e.cfg.AgentTimeout) {
		if last.IsZero() {
			return barWait, "vigil has not heard its agent yet"
		}
		return barSilent, fmt.Sprintf("its agent has been silent for %v: vigil lets back only a host it hears", now.Sub(last).Round(time.Second))
	}
	if !h.novaAt.After(h.inc.fence.At) {
		return barWait, "Nova has not listed what belongs on it since its fence yet (vigil waits for that list: seconds)"
	}
	mine := map[string]bool{}
	for _, in := range h.nova.Instances {
		mine[in] = true
	}
	if h.self.GuestsUnknown {
		return barDirty, fmt.Sprintf("%s is back but its agent cannot list its guests (libvirt does not answer it): vigil cannot tell whether it still runs guests it moved away; it keeps it forced down and fenced until the agent can", h.Name)
	}
	var still []string
	for _, d := range h.self.Domains {
		// A guest vigil moved away must be gone whatever Nova's (possibly
		// stale) list says; any other guest must be one Nova places here.
		if h.inc.done[d] || h.inc.maybeSent(d) || !mine[d] {
			still = append(still, d)
		}
	}
	switch {
	case len(still) > 0:
		return barDirty, fmt.Sprintf("%s is back but still runs %s, which Nova places elsewhere or vigil moved away; restart nova-compute there so it destroys them; vigil keeps it forced down and fenced until then", h.Name, strings.Join(still, ", "))
	case !h.self.NovaCompute.Running:
		return barDirty, fmt.Sprintf("%s is back but nova-compute is not running there; start it (it destroys guests moved away on start); vigil keeps it forced down and fenced until then", h.Name)
	}
	if elsewhere := e.placedHereRunElsewhere(now, h); len(elsewhere) > 0 {
		// Rejoined, its grants would let guests start, and nova-compute's
		// start (init_host) would resume them next to the copy that runs.
		return barDirty, fmt.Sprintf("%s is back, but Nova still places %s there while another host runs it or writes its disk (a live migration that had switched over?): rejoining would let it start here as a second copy; fix its host in Nova (openstack server show; nova-manage or a reset of the migration), and vigil keeps %s forced down and fenced until then", h.Name, strings.Join(elsewhere, ", "), h.Name)
	}
	return barNone, ""
}

// rejoin lets a fenced host back only when it is clean (rejoinCheck), and,
// under the manual policy, only once an operator has said so (Rejoin)
// for the boot it runs: the operator's word replaces the "automatic",
// never a check.
func (e *Engine) rejoin(now time.Time, h *host) {
	switch bar, why := e.rejoinCheck(now, h); bar {
	case barWait:
		return
	case barSilent, barDirty:
		e.notReady(now, h, why)
		if bar == barDirty {
			e.alert(h, "rejoin-blocked", why)
		}
		return
	}
	if a := h.inc.approved; a != nil && a.boot != h.self.BootID {
		e.voidRejoin(h, fmt.Sprintf("it runs boot %s, not boot %s that the rejoin was given for", h.self.BootID, a.boot))
	}
	a := h.inc.approved
	if e.cfg.Rejoin != RejoinAuto {
		if a == nil {
			if h.rule != "rejoin-ready" {
				e.transition(now, h, Rejoining, "rejoin-ready", append(e.evidence(h, now),
					"clean: it runs none of the guests vigil moved away, nova-compute runs, and Nova has listed it since its fence",
					fmt.Sprintf("the rejoin policy is manual: it stays fenced and forced down until an operator lets it back (vigil rejoin %s)", h.Name)))
			}
			e.alert(h, "rejoin-ready", readyReason(h))
			return
		}
		if a.ready > e.readySeq {
			return // the Ready being built journals it: acted on at the next Tick
		}
	}
	// Instances caught mid-move (Nova placed them elsewhere, the move never
	// finished) are nobody's once the incident closes: hand them over.
	mine := map[string]bool{}
	for _, in := range h.nova.Instances {
		mine[in] = true
	}
	for _, in := range h.inc.instances {
		if !h.inc.done[in] && !mine[in] && (h.inc.evacTries[in] > 0 || h.inc.maybeSent(in)) {
			e.unresolved[in] = h.Name
			e.alert(h, "evacuate-unresolved:"+in, fmt.Sprintf("%s left %s while its evacuation had not finished; Nova places it on another host but vigil never saw it ACTIVE: check it (openstack server show %s)", h.Name, in, in))
		}
	}
	reason := "no evacuated instance runs on the host"
	ev := e.evidence(h, now)
	if a != nil {
		by := fmt.Sprintf("let back by vigil rejoin (by %s, for boot %s)", a.by, a.boot)
		reason += "; " + by
		ev = append(ev, by)
	}
	e.unfence(now, h, "clean-rejoin", reason, false)
	e.emit(Action{Kind: ActReEnable, Host: h.Name, Rule: "clean-rejoin", Reason: "unset forced-down and enable nova-compute"})
	e.forget(h.inc)
	h.inc = nil
	e.transition(now, h, Healthy, "clean-rejoin", ev)
	e.persist(h)
}

// readyReason says that h is clean and waits for an operator's rejoin.
func readyReason(h *host) string {
	return fmt.Sprintf("%s is back and clean (it runs none of the guests vigil moved away, nova-compute runs there, and Nova has listed it since its fence); the rejoin policy is manual, so vigil keeps it fenced and forced down in Nova until you let it back: vigil rejoin %s --reason TEXT", h.Name, h.Name)
}

// notReady notes that a rejoining host is not clean now (why): an
// operator's rejoin of it is void, and a host shown ready is no longer.
func (e *Engine) notReady(now time.Time, h *host, why string) {
	a := h.inc.approved
	if a != nil {
		e.voidRejoin(h, why)
	}
	if h.rule == "rejoin-ready" || h.rule == "rejoin-approved" {
		ev := []string{why}
		if a != nil {
			ev = append(ev, fmt.Sprintf("the rejoin %s gave is void: vigil alerts rejoin-ready when it is clean again and waits for a new vigil rejoin %s", a.by, h.Name))
		}
		e.transition(now, h, Rejoining, "rejoin-unclean", ev)
	}
}

// voidRejoin drops an operator's rejoin of h, which is no longer clean in
// the boot it was given for: it was for this rejoin only.
func (e *Engine) voidRejoin(h *host, why string) {
	a := h.inc.approved
	h.inc.approved = nil
	delete(h.alerted, "rejoin-ready") // heard again once it is clean
	delete(h.alerted, "rejoin-void")
	e.alert(h, "rejoin-void", fmt.Sprintf("the rejoin of %s by %s is void: %s. It stays fenced and forced down; once it is clean again vigil alerts rejoin-ready and waits for a new vigil rejoin %s", h.Name, a.by, why, h.Name))
	e.persist(h)
}

// rejoinCommand takes an operator's rejoin of a host (Rejoin): only for a
// rejoining host that is clean now, and refused, with an alert saying why,
// otherwise. The host is let back at the next Tick, once the record that
// journals the operator's word is on its way to the store, if it is still
// clean then.
func (e *Engine) rejoinCommand(now time.Time, c Rejoin) {
	h := e.hosts[c.Host]
	if h == nil {
		return
	}
	if why := e.rejoinRefused(now, h); why != "" {
		delete(h.alerted, "rejoin-refused")
		e.alert(h, "rejoin-refused", fmt.Sprintf("rejoin of %s by %s refused: %s", h.Name, c.By, why))
		return
	}
	if a := h.inc.approved; a != nil && a.boot == h.self.BootID {
		return // said already, of this boot
	}
	e.transition(now, h, Rejoining, "rejoin-approved", []string{
		fmt.Sprintf("vigil rejoin by %s: it is clean in boot %s", c.By, h.self.BootID),
		"vigil unfences it and enables it in Nova at its next tick, if it is still clean then"})
	h.inc.approved = &approval{by: c.By, boot: h.self.BootID, at: now, ready: e.readySeq + 1}
	e.persist(h)
}

// rejoinRefused says why an operator's rejoin cannot be taken for h now,
// or "".
func (e *Engine) rejoinRefused(now time.Time, h *host) string {
	if h.maintenance {
		return "it is in maintenance and vigil does nothing to it; take it out of maintenance first (its incident resumes, and it can be let back once it is clean)"
	}
	switch {
	case h.inc == nil:
		return fmt.Sprintf("it is %s: vigil holds no fence on it, there is nothing to rejoin", h.state)
	case h.state != Rejoining:
		return fmt.Sprintf("it is %s, not rejoining: only a fenced host that came back (its agent answers again) can be let back", h.state)
	}
	if bar, why := e.rejoinCheck(now, h); bar != barNone {
		return why
	}
	return ""
}
