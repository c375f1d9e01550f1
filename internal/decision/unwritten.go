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
		case ActForceDown:
			if inc != nil && inc.fence != nil {
				// Sent again now: the incident may be past the step
				// that sends it (Recovering), and Nova refuses
				// evacuations until the service is forced down.
				e.emit(a)
			}
		case ActReEnable:
			if inc == nil {
				e.emit(a) // the host rejoined in that Ready: nothing else would send it
			}
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
