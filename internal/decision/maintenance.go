package decision

import (
	"fmt"
	"strings"
	"time"
)

// enterMaintenance hands h to an operator. Its incident, if any, is kept
// whole (fence, force-down, what moved): an operator owning the host lifts
// none of that. Nothing is done to the host until maintenance ends, and the
// operator is told what is still in force.
//
// Nothing decided for h can be waiting in e.out: maintenance is read at h's
// own turn in Tick, and between Ticks only alerts are decided.
func (e *Engine) enterMaintenance(now time.Time, h *host) {
	ev := []string{"an operator put the host in maintenance; vigil will not act on it"}
	if h.inc != nil {
		h.inc.paused = h.state
		ev = append(ev, fmt.Sprintf("its open incident (%s) is kept and resumes there when maintenance ends", h.state))
		e.alert(h, "maintenance-incident", fmt.Sprintf("%s went into maintenance during an incident (%s); still in force: %s. vigil does nothing to it until maintenance ends; then the incident resumes at %s, and %s is unfenced and re-enabled only once it runs none of the moved guests",
			h.Name, h.state, strings.Join(e.inForce(h), "; "), h.state, h.Name))
	}
	e.transition(now, h, Maintenance, "operator-maintenance", ev)
	e.persist(h)
}

// inForce lists, for an operator, what h's incident still holds in place.
func (e *Engine) inForce(h *host) []string {
	inc := h.inc
	var out []string
	switch f := inc.fence; {
	case f == nil && inc.inFlight:
		out = append(out, "a fence is being carried out (its result still counts)")
	case f == nil:
		out = append(out, "not fenced yet")
	default:
		out = append(out, fmt.Sprintf("fenced by %s at %s", f.Method, f.At.Format("15:04:05")))
		if powerFence(f.Method) {
			out = append(out, "its power was cut: do not start its guests if you power it on")
		}
		if strings.Contains(f.Method, "ceph-blocklist") {
			out = append(out, "its Ceph client is blocklisted: its guests there cannot write")
		}
	}
	if inc.forced || h.nova.ForcedDown { // forced is not persisted: a new leader reads Nova
		out = append(out, "nova-compute is forced down")
	}
	var moved, here []string
	for _, in := range inc.instances {
		switch {
		case inc.done[in] || inc.maybeSent(in):
			moved = append(moved, in)
		default:
			here = append(here, in)
		}
	}
	if len(moved) > 0 {
		out = append(out, fmt.Sprintf("%s moved (or being moved) away: they must not run there; nova-compute destroys them when it starts", strings.Join(moved, ", ")))
	}
	if len(here) > 0 {
		out = append(out, fmt.Sprintf("%s not moved yet: its only copy is on the host", strings.Join(here, ", ")))
	}
	return out
}
