package decision

import (
	"fmt"
	"time"
)

// A host that rejoined is unfenced (its blocklist entries removed) by the
// executor. When that fails the host runs again but cannot write its disks:
// vigil retries with backoff and alerts until it works. A new incident
// supersedes the retry (its own fence applies), and nothing is sent to a
// host in maintenance.

func (e *Engine) unfenceResult(now time.Time, r UnfenceResult) {
	h := e.hosts[r.Host]
	if h == nil {
		return
	}
	if r.OK {
		if h.unfenceErr != "" {
			e.alert(h, "unfence-done", fmt.Sprintf("%s is unfenced after all (its blocklist entries are gone)", h.Name))
		}
		pending := !h.unfenceDue.IsZero() || len(h.liftRecs) > 0
		h.unfenceDue, h.unfenceWait, h.unfenceErr = time.Time{}, 0, ""
		h.liftRecs, h.liftSince, h.liftUnmoved = nil, time.Time{}, false
		delete(h.alerted, "unfence-failed")
		if pending && h.inc == nil {
			e.persist(h)
		}
		return
	}
	if h.inc != nil {
		return // a new incident's fence applies now
	}
	h.unfenceWait = min(max(2*h.unfenceWait, e.cfg.FenceRetry), e.cfg.FenceRetryMax)
	h.unfenceDue, h.unfenceErr = now.Add(h.unfenceWait), r.Err
	e.persist(h) // a new leader retries it
	delete(h.alerted, "unfence-failed")
	e.alert(h, "unfence-failed", fmt.Sprintf("%s rejoined but could not be unfenced (%s): it runs and cannot write its disks; vigil retries in %v, or remove its entries by hand (vigil fence on %s)", h.Name, r.Err, h.unfenceWait, h.Name))
}

// unfence sends an unfence of h and notes it as due again unless a result
// comes first. Call it before persisting h: the record carries the due
// unfence, so a successor retries one whose result died with this leader
// (found by vigil lab fuzz --hosts 3-30 --seed 1796236519, schedule 7704:
// the leader was killed 0.1 s after the unfence failed, and the host ran
// blocklisted for good).
//
// unmoved: no instance was started elsewhere, so lifting needs no proof
// that the host was reset (unless a lift that needs one is due too).
func (e *Engine) unfence(now time.Time, h *host, rule, reason string, unmoved bool) {
	if h.unfenceWait == 0 {
		h.unfenceWait = e.cfg.FenceRetry
	}
	if h.inc == nil {
		h.closedUnmoved = unmoved // how the host's last incident closed: a late renewal's lift says the same
	}
	if h.unfenceDue.IsZero() {
		h.liftUnmoved = unmoved
	}
	h.liftUnmoved = h.liftUnmoved && unmoved
	h.toLift()
	if h.maintenance {
		// Decided between Ticks (a renewal's or a fence's late result)
		// for a host an operator owns: due when maintenance ends.
		h.unfenceDue = now
		return
	}
	h.unfenceDue = now.Add(h.unfenceWait)
	e.emit(Action{Kind: ActUnfence, Host: h.Name, Rule: rule, Reason: reason, Records: h.liftRecs, Since: h.liftSince, Unmoved: h.liftUnmoved})
}

// retryUnfence sends the unfence again when its retry is due.
func (e *Engine) retryUnfence(now time.Time, h *host) {
	if h.unfenceDue.IsZero() || now.Before(h.unfenceDue) || h.maintenance {
		return
	}
	if h.inc != nil {
		h.unfenceDue, h.unfenceWait, h.unfenceErr = time.Time{}, 0, ""
		h.reclaimLift()
		return
	}
	h.unfenceDue = now.Add(h.unfenceWait) // until a result says otherwise
	why := "the last unfence failed: " + h.unfenceErr
	if h.unfenceErr == "" {
		why = "no result came for the last unfence (its executor, or the leader that sent it, died)"
	}
	e.emit(Action{Kind: ActUnfence, Host: h.Name, Rule: "unfence-retry", Reason: why, Records: h.liftRecs, Since: h.liftSince, Unmoved: h.liftUnmoved})
}
