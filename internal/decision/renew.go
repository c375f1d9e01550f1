package decision

import (
	"fmt"
	"slices"
	"time"
)

// Keeping an incident's fences in force: Ceph blocklist entries expire
// unless renewed (docs/fencing.md, "Keeping the fence in force").

// lapses reports whether a fence of method lapses unless renewed: Ceph
// blocklist entries expire.
func lapses(method string) bool { return slices.Contains(methods(method), "ceph-blocklist") }

// renewFence renews h's fence every FenceRenew while its incident holds one
// that lapses, from the fence's time (a new leader renews a restored one
// at once if it is due).
func (e *Engine) renewFence(now time.Time, h *host) {
	inc := h.inc
	if inc == nil || inc.fence == nil || inc.renewing || !lapses(inc.fence.Method) {
		return
	}
	if inc.renewAt.IsZero() {
		inc.renewAt = inc.fence.At.Add(e.cfg.FenceRenew)
	}
	if now.Before(inc.renewAt) {
		return
	}
	inc.renewing, inc.renewAt = true, now.Add(e.cfg.FenceRenew)
	h.renewRecs = h.fenceRecs
	e.emit(Action{Kind: ActRenewFence, Host: h.Name, Level: inc.fence.Level, Rule: "fence-renew", Records: h.fenceRecs,
		Reason: fmt.Sprintf("the incident of %s holds its %s fence: its blocklist entries are renewed before they expire, every %v", h.Name, inc.fence.Method, e.cfg.FenceRenew)})
}

// renewResult takes the executor's report of a renewal.
func (e *Engine) renewResult(now time.Time, r RenewResult) {
	h := e.hosts[r.Host]
	if h == nil {
		return
	}
	if r.Records != nil {
		h.renewed(h.renewRecs, r.Records)
		e.persist(h)
	}
	h.renewRecs = nil
	if h.inc == nil {
		if r.OK || r.Records != nil {
			// A renewal in flight when the host rejoined and its fence
			// was lifted has put its entries back: lift them again.
			e.alert(h, "renewal-after-rejoin", fmt.Sprintf("a renewal of the blocklist fence of %s, in flight when it rejoined, added its entries again after they were lifted: vigil lifts them again", h.Name))
			e.unfence(now, h, "renewal-after-rejoin", "a renewal in flight at the rejoin put the blocklist entries back", h.closedUnmoved)
			e.persist(h) // a successor retries it until it is done
		}
		return
	}
	inc := h.inc
	inc.renewing = false
	switch {
	case r.Lapsed:
		delete(h.alerted, "fence-lapsed")
		e.alert(h, "fence-lapsed", fmt.Sprintf("the blocklist fence of %s was found lapsed (%s) and added again: while it was gone the host's guests could write, next to the copies vigil started elsewhere; check %s and its instances' disks now", h.Name, r.Err, h.Name))
	case !r.OK:
		inc.renewAt = now.Add(e.cfg.FenceRetry)
		e.alert(h, "fence-renew-failed", fmt.Sprintf("renewing the blocklist fence of %s failed (%s): retrying every %v; its entries expire unless renewed, and then its guests, if it runs, can write again", h.Name, r.Err, e.cfg.FenceRetry))
	default:
		delete(h.alerted, "fence-renew-failed")
	}
}
