package decision

import "time"

// unwritten makes the actions of a Ready that was never written due again:
// none was carried out, and no result will come.
func (e *Engine) unwritten(now time.Time, m Unwritten) {
	for _, name := range m.Hosts {
		if h := e.hosts[name]; h != nil {
			e.persist(h)
			if h.watchdogUnsaved == unsavedWriting {
				h.watchdogUnsaved = unsavedChanged // its Ready failed: the next one carries it
			}
			if h.unsavedAck != nil && !h.ackOut {
				// The stop's ack went with that Ready, and the
				// controller dropped it: it rides with this record,
				// which says the process stopped as that one did.
				e.out.Acks = append(e.out.Acks, *h.unsavedAck)
				h.ackOut = true
			}
		}
	}
	for _, a := range m.Actions {
		h := e.hosts[a.Host]
		if h == nil {
			continue
		}
		switch inc := h.inc; a.Kind {
		case ActRestart:
			for _, in := range a.Instances {
				delete(h.restartAt, in)
			}
		case ActFence:
			if inc != nil && inc.fence == nil && inc.inFlight {
				inc.inFlight, inc.nextTry = false, now
			}
		case ActCancelFence:
			if inc != nil {
				inc.cancelled = false
			}
		case ActForceDown, ActReEnable:
			// Sent again at the host's turn in the next Tick, after its
			// maintenance check (maintenance.go): the incident may be
			// past the step that sends a force-down (Recovering), and
			// Nova refuses evacuations until the service is forced down;
			// nothing else would send the re-enable of a rejoin.
			h.resend = append(h.resend, a)
		case ActEvacuate:
			if inc == nil {
				continue
			}
			for _, in := range a.Instances {
				if inc.evacWait[in] {
					inc.evacWait[in], inc.evacAt[in] = false, time.Time{}
					inc.evacTries[in]--
				}
			}
		case ActRenewFence:
			if inc != nil && inc.renewing {
				inc.renewing, inc.renewAt = false, now
			}
		}
	}
}

// resendUnwritten sends again the force-down or re-enable of a Ready that
// was never written, if it still applies: a force-down while the incident
// holds a fence, a re-enable while no incident is open. Called at the
// host's turn, never for a host in maintenance.
func (e *Engine) resendUnwritten(h *host) {
	for _, a := range h.resend {
		switch {
		case a.Kind == ActForceDown && h.inc != nil && h.inc.fence != nil:
			e.emit(a)
		case a.Kind == ActReEnable && h.inc == nil:
			e.emit(a)
		}
	}
	h.resend = nil
}
