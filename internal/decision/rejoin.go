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
	quiet := now.Sub(h.since)
	if last := h.lastAgent(); last.After(h.since) {
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

// rejoin lets a fenced host back only when it runs no guest that Nova now
// places elsewhere (nova-compute destroys those when it restarts).
func (e *Engine) rejoin(now time.Time, h *host) {
	if !fresh(h.lastAgent(), now, e.cfg.AgentTimeout) {
		return
	}
	if !h.novaAt.After(h.inc.fence.At) {
		return // wait for Nova's list of what belongs here now
	}
	mine := map[string]bool{}
	for _, in := range h.nova.Instances {
		mine[in] = true
	}
	if h.self.GuestsUnknown {
		e.alert(h, "rejoin-blocked", fmt.Sprintf("%s is back but its agent cannot list its guests (libvirt does not answer it): vigil cannot tell whether it still runs guests it moved away; it keeps it forced down and fenced until the agent can", h.Name))
		return
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
		e.alert(h, "rejoin-blocked", fmt.Sprintf("%s is back but still runs %s, which Nova places elsewhere or vigil moved away; restart nova-compute there so it destroys them; vigil keeps it forced down and fenced until then", h.Name, strings.Join(still, ", ")))
		return
	case !h.self.NovaCompute.Running:
		e.alert(h, "rejoin-blocked", fmt.Sprintf("%s is back but nova-compute is not running there; start it (it destroys guests moved away on start); vigil keeps it forced down and fenced until then", h.Name))
		return
	}
	if elsewhere := e.placedHereRunElsewhere(now, h); len(elsewhere) > 0 {
		// Rejoined, its grants would let guests start, and nova-compute's
		// start (init_host) would resume them next to the copy that runs.
		e.alert(h, "rejoin-blocked", fmt.Sprintf("%s is back, but Nova still places %s there while another host runs it or writes its disk (a live migration that had switched over?): rejoining would let it start here as a second copy; fix its host in Nova (openstack server show; nova-manage or a reset of the migration), and vigil keeps %s forced down and fenced until then", h.Name, strings.Join(elsewhere, ", "), h.Name))
		return
	}
	// Instances caught mid-move (Nova placed them elsewhere, the move never
	// finished) are nobody's once the incident closes: hand them over.
	for _, in := range h.inc.instances {
		if !h.inc.done[in] && !mine[in] && (h.inc.evacTries[in] > 0 || h.inc.maybeSent(in)) {
			e.unresolved[in] = h.Name
			e.alert(h, "evacuate-unresolved:"+in, fmt.Sprintf("%s left %s while its evacuation had not finished; Nova places it on another host but vigil never saw it ACTIVE: check it (openstack server show %s)", h.Name, in, in))
		}
	}
	e.unfence(now, h, "clean-rejoin", "no evacuated instance runs on the host", false)
	e.emit(Action{Kind: ActReEnable, Host: h.Name, Rule: "clean-rejoin", Reason: "unset forced-down and enable nova-compute"})
	e.forget(h.inc)
	h.inc = nil
	e.transition(now, h, Healthy, "clean-rejoin", e.evidence(h, now))
	e.persist(h)
}
