package decision

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// open starts an incident for a failed host: first fence level now.
func (e *Engine) open(now time.Time, h *host) {
	h.inc = newIncident(now)
	h.inc.cause = h.rule
	h.opened(now)      // its fences apply now; its rejoin lifts them all
	h.released = false // consumed
	e.counts.inFlight++
	e.transition(now, h, Fencing, "fence-before-recovery", []string{fmt.Sprintf("fencing %s with topology level 1 of %d", h.Name, e.levels(h))})
	e.persist(h)
	e.sendFence(now, h)
}

func (e *Engine) sendFence(now time.Time, h *host) {
	h.inc.inFlight, h.inc.sentAt, h.inc.cancelled = true, now, false
	e.emit(Action{Kind: ActFence, Host: h.Name, Level: h.inc.level, Rule: "fence-before-recovery", ProbeAborts: h.answeredAt.IsZero(), Since: h.fenceSince,
		Reason: fmt.Sprintf("%s failed (%s); instances may only start elsewhere once it is verifiably fenced", h.Name, h.inc.cause)})
}

// lifeSince reports what showed h alive after t: an agent report on any
// network, a peer reaching it, its storage heartbeat moving; "" if nothing.
func (e *Engine) lifeSince(h *host, t time.Time) string {
	for i, at := range h.agentAt {
		if at.After(t) {
			return "its agent answered on " + e.cfg.Networks[i]
		}
	}
	for i, at := range h.peerAt {
		if at.After(t) {
			return fmt.Sprintf("%s reached it on %s", h.peerBy[i], e.cfg.Networks[i])
		}
	}
	// A first read is no move: a new leader's first read of a dead
	// host's counter restored an incident as undone (fuzz seed 1796599654).
	if moved := h.heartbeatMoved(); moved.After(t) {
		if _, ok := e.rebootProof(h, moved); ok {
			return "" // a new boot's, which runs nothing
		}
		return "its storage heartbeat moved"
	}
	return ""
}

// workflow advances a host that has an open incident.
func (e *Engine) workflow(now time.Time, h *host, a assessment) {
	inc := h.inc
	switch h.state {
	case Fencing:
		if inc.fence != nil {
			if why := e.fenceUndone(now, h); why != "" {
				// E.g. a watchdog self-fence assumed, then the host answered.
				e.undone(now, h, why)
				return
			}
			if byDevice(inc.fence.Method) && now.Before(e.leaderSince.Add(e.cfg.FailoverGrace)) {
				// A device's result restored by a new leader (its
				// predecessor died, or the host was in maintenance, before
				// the fence counted): what was seen after the decision is
				// not journaled, and this leader has heard nothing yet.
				// It counts once the failover grace has let the host
				// speak; life since the fence then undoes it (below: the
				// decision's time is unknown, so any life counts).
				return
			}
			if inc.cancelled || (byDevice(inc.fence.Method) && e.lifeSince(h, inc.sentAt) != "") {
				// The host showed life after the fence was decided (a
				// tick sent cancel-fence, or the life and the result came
				// between two ticks), and the device acted anyway. A
				// power-off that really happened after that life leaves
				// the host silent; a BMC that only says so (it lies, the
				// host hung and resumes) does not. Trust the fence once
				// the host has been silent for an agent timeout since it
				// was verified; life at the result's own instant counts.
				if why := e.lifeSince(h, inc.fence.At.Add(-time.Nanosecond)); why != "" {
					e.undone(now, h, why+" after the fence was verified, which came after it showed life: the fence did not hold")
					return
				}
				if now.Before(inc.fence.At.Add(e.cfg.AgentTimeout)) {
					return
				}
			}
			e.transition(now, h, Fenced, "fence-verified", []string{inc.fence.describe()})
			e.persist(h)
			e.recover(now, h)
			return
		}
		if !inc.inFlight && inc.attempts > 0 {
			if proof, ok := e.rebootProof(h, now); ok {
				// No device could act, and none needs to: the boot
				// whose guests vigil moves has ended.
				inc.fence = &Fence{At: now, Method: "reboot", BootID: rebootBoot(h), Proof: proof}
				return
			}
		}
		if !inc.inFlight && inc.attempts > 0 && e.cfg.SelfFenceAfter > 0 && h.grantArmed {
			// Checked every tick, not only when a fence retry is due: the
			// safe time passing is what makes the watchdog a fence. It
			// counts from the last grant, never from the last report: an
			// agent feeds its watchdog only on grants (grant.go).
			from := e.selfFenceFrom(h)
			if waited := now.Sub(from); waited >= e.cfg.SelfFenceAfter {
				inc.fence = &Fence{At: now, Method: "watchdog", BootID: h.grantBoot,
					Proof: fmt.Sprintf("boot %s had its watchdog armed; no grant for %v since %s >= safe time %v", h.grantBoot, waited.Round(time.Second), from.Format("15:04:05.0"), e.cfg.SelfFenceAfter)}
				return
			}
		}
		if inc.inFlight {
			if why := e.lifeSince(h, inc.sentAt); why != "" && !inc.cancelled {
				// Life between the decision and the power-off: stop the
				// fence if its device has not acted yet.
				inc.cancelled = true
				e.emit(Action{Kind: ActCancelFence, Host: h.Name, Level: inc.level, Rule: "life-after-decision",
					Reason: fmt.Sprintf("%s after the fence was decided: stop it unless the device already acted", why)})
			}
			return
		}
		if now.Before(inc.nextTry) {
			return
		}
		if now.Before(e.leaderSince.Add(e.cfg.FailoverGrace)) {
			return // an incident restored by a new leader waits for fresh evidence
		}
		if alive := a.state != Failed && a.state != Suspect && a.state != Unknown; alive {
			if h.anyMoved() {
				e.backToRejoining(now, h, append(e.evidence(h, now), "host answered again before the new fence took effect"))
				return
			}
			h.inc = nil
			e.reEnableAborted(h, inc, "fence-aborted")
			e.transition(now, h, a.state, "fence-aborted", append(e.evidence(h, now), "host answered again before any fence took effect; incident closed"))
			// A failed level may still have applied some of its devices
			// (a blocklist went on, the power read-back failed): lift them,
			// or the host runs guests that cannot write.
			e.unfence(now, h, "fence-aborted", "undo any device of a failed fence level that did act; no instance was moved, so nothing can write twice", true)
			e.persist(h)
			msg := fmt.Sprintf("%s answered again before it was fenced (%s); no instance was moved", h.Name, inc.lastErr)
			if note := agentDownNote(h, a); note != "" {
				msg += "." + note
			}
			e.alert(h, "fence-aborted", msg)
			return
		}
		e.sendFence(now, h)
	case Fenced, Recovering:
		if why := e.fenceUndone(now, h); why != "" {
			e.undone(now, h, why)
			return
		}
		if h.state == Fenced {
			e.recover(now, h)
			return
		}
		e.reconcile(now, h)
		e.retryEvacuations(now, h)
		if len(inc.done) == len(inc.instances) {
			e.transition(now, h, Recovered, "all-evacuated", []string{fmt.Sprintf("%d instances run elsewhere; %s stays forced down until it rejoins cleanly", len(inc.instances), h.Name)})
			e.persist(h)
		}
	case Recovered:
		if f := inc.fence; f != nil && powerFence(f.Method) && h.bmc == PowerOn && h.bmcAt.After(f.At) {
			// Every guest moved, so nothing is undone; but someone
			// powered it on, which an operator must hear of.
			e.alert(h, "fence-power-on", fmt.Sprintf("%s's BMC reads the power on again after its fence (%s): someone powered it on; its instances run elsewhere now, and vigil keeps it forced down until it rejoins cleanly (nova-compute destroys the moved guests when it starts)", h.Name, f.describe()))
		}
		if fresh(h.lastAgent(), now, e.cfg.AgentTimeout) {
			e.transition(now, h, Rejoining, "host-back", []string{"agent answers again (boot " + h.self.BootID + ")"})
			e.persist(h)
			return
		}
		if in := e.placedHere(h); in != "" {
			// Another incident's evacuation landed on this host before it
			// was judged (targets chosen seconds before it died): it is
			// this fenced host's to move.
			e.transition(now, h, Recovering, "instances-placed-here", []string{fmt.Sprintf("Nova now places %s on %s, which is fenced: evacuating it", in, h.Name)})
			e.persist(h)
			return
		}
		e.reconcile(now, h)
	case Rejoining:
		e.rejoin(now, h)
		if h.inc != nil {
			e.rejoinStalled(now, h)
		}
	}
}

// fenceUndone reports why the fence of h no longer holds, or "": the
// executor found it lifted, the agent answers again after a fence that
// should have silenced it, or the BMC reads the power back on after a power
// fence. A storage fence (blocklist) leaves the host running by design: its
// agent answering again does not lift it.
func (e *Engine) fenceUndone(now time.Time, h *host) string {
	f := h.inc.fence
	switch {
	case h.inc.fenceLost != "":
		return h.inc.fenceLost
	case f.Method == "reboot" && h.storageBoot.BootID == f.BootID && h.storageMoved.After(f.At):
		return "the host's storage heartbeat comes from boot " + f.BootID + " again, which vigil counted as ended"
	case (f.Method == "watchdog" || f.Method == "reboot") && f.BootID != "" && h.self.BootID != f.BootID:
		// It answers from a new boot: the watchdog did reset it, and the
		// guests it ran died with that boot. Guests the new boot runs were
		// started again (the start gate should have stopped that): those of
		// the incident not moved yet must not be moved now.
		if fresh(h.selfAt, now, e.cfg.AgentTimeout) {
			if h.self.GuestsUnknown {
				return "the host's new boot " + h.self.BootID + " answers but its agent cannot list its guests: it may run some vigil had not moved yet"
			}
			for _, d := range h.self.Domains {
				if slices.Contains(h.inc.instances, d) && !h.inc.done[d] {
					return "the host's new boot " + h.self.BootID + " runs " + d + ", which vigil had not moved yet: its watchdog fence covered only the old boot"
				}
			}
		}
		return ""
	case !storageOnly(f.Method) && fresh(h.lastAgent(), now, e.cfg.AgentTimeout) && h.lastAgent().After(f.At):
		return "the host's agent answers again (boot " + h.self.BootID + ")"
	case powerFence(f.Method) && h.bmc == PowerOn && h.bmcAt.After(f.At):
		return "the BMC reads the power on again after the fence"
	case powerFence(f.Method) && !hasStorageFence(f.Method):
		// A host whose power is off reaches no peer and writes no
		// heartbeat: one that does after the fence was verified runs
		// (its BMC lies, or powered it on and reads stale), whatever its
		// agent (crashed) says. Half an agent timeout for a peer's report
		// of a probe made before the power-off, a whole one for a
		// heartbeat written before it and read after.
		for i, at := range h.peerAt {
			if at.After(f.At.Add(e.cfg.AgentTimeout/2)) && fresh(at, now, e.cfg.PeerTimeout) {
				return fmt.Sprintf("%s reached the host on %s after its power fence", h.peerBy[i], e.cfg.Networks[i])
			}
		}
		if moved := h.heartbeatMoved(); moved.After(f.At.Add(e.cfg.AgentTimeout)) && fresh(moved, now, e.cfg.StorageTimeout) {
			if _, ok := e.rebootProof(h, moved); !ok {
				return "the host's storage heartbeat moved after its power fence"
			}
		}
	}
	return ""
}

// Fence methods are driver names, joined by "+" when a level has several; a
// fence agent's carries its kind: "fence-agent" (power),
// "fence-agent-storage" (fence_scsi, fence_mpath), "fence-agent-io"
// (fence_ifmib).
func methods(method string) []string { return strings.Split(method, "+") }

// byDevice reports whether a fence device's result set the fence, rather
// than the engine (a watchdog's safe time, a reboot's proof) or an operator.
func byDevice(method string) bool {
	switch method {
	case "watchdog", "reboot", "operator", "undone":
		return false
	}
	return true
}

// powerFence reports whether the fence cut the host's power.
func powerFence(method string) bool {
	for _, m := range methods(method) {
		if m == "ipmi" || m == "redfish" || m == "fence-agent" {
			return true
		}
	}
	return false
}

// storageOnly reports whether the fence only cut the host off its storage.
func storageOnly(method string) bool {
	for _, m := range methods(method) {
		if m != "ceph-blocklist" && m != "fence-agent-storage" {
			return false
		}
	}
	return true
}

// recover force-downs a fenced host in Nova and evacuates its instances.
// It is the only place that emits ActEvacuate, and it refuses without a fence.
func (e *Engine) recover(now time.Time, h *host) {
	inc := h.inc
	if inc == nil || inc.fence == nil {
		panic("decision: recover without a verified fence") // unreachable: guarded by callers; tests prove it
	}
	if h.novaAt.IsZero() {
		if inc.instances == nil {
			e.alert(h, "nova-unread", fmt.Sprintf("%s is fenced but Nova has not been read yet: waiting for its instance list", h.Name))
		}
		return // stays fenced until Nova tells which instances are here
	}
	e.mergeInstances(h)
	if !inc.forced {
		inc.forced = true
		e.emit(Action{Kind: ActForceDown, Host: h.Name, Rule: "force-down-after-fence",
			Reason: "fence verified; mark nova-compute forced down so Nova accepts the evacuation at once"})
	}
	var todo []string
	for _, in := range inc.instances {
		if !inc.done[in] && !inc.evacWait[in] && !e.copyElsewhere(now, h, in) {
			todo = append(todo, in)
			inc.evacTries[in]++
			inc.evacAt[in] = now
			inc.evacWait[in] = true
		}
	}
	e.transition(now, h, Recovering, "evacuate-after-fence", []string{fmt.Sprintf("evacuating %d instances (fence: %s at %s)", len(todo), inc.fence.Method, inc.fence.At.Format("15:04:05.0"))})
	e.persist(h)
	if len(todo) > 0 {
		e.emit(Action{Kind: ActEvacuate, Host: h.Name, Instances: todo, Avoid: e.untrusted(h.Name), FenceMethod: inc.fence.Method, Rule: "evacuate-after-fence",
			Stopped: inc.stoppedOf(todo), Reason: fmt.Sprintf("%s %s", h.Name, inc.fence.describe())})
	}
}

// placedHere returns an instance that a Nova read taken after h's fence
// places on h and that h's incident does not know yet, or "".
func (e *Engine) placedHere(h *host) string {
	if !h.novaAt.After(h.inc.fence.At) {
		return ""
	}
	for _, in := range h.nova.Instances {
		if !slices.Contains(h.inc.instances, in) {
			return in
		}
	}
	return ""
}

// mergeInstances adds instances Nova places on the fenced host that the
// incident does not know yet (a late or first Nova read), and remembers
// those Nova shows stopped: a failed scheduling sets them to ERROR, and
// what their user left stopped must stay stopped wherever they move.
func (e *Engine) mergeInstances(h *host) {
	h.inc.merge(h.nova, func() { e.persist(h) })
}

// merge adds to inc the instances n places on its host that it does not
// know yet, sorted (the order they are evacuated in), and marks those n
// shows stopped, calling stopped after each it marks.
func (inc *incident) merge(n NovaService, stopped func()) {
	for _, in := range n.Instances {
		if !slices.Contains(inc.instances, in) {
			inc.instances = append(inc.instances, in)
		}
		if n.Status[in] == NovaShutoff && !inc.stopped[in] && !inc.done[in] {
			inc.stopped[in] = true
			stopped()
		}
	}
	if inc.instances == nil {
		inc.instances = []string{}
	}
	sort.Strings(inc.instances)
}

func (e *Engine) retryEvacuations(now time.Time, h *host) {
	inc := h.inc
	e.mergeInstances(h)
	if now.Before(inc.recheckAt) {
		return // the fence could not be read: wait before asking the executor again
	}
	var todo []string
	for _, in := range inc.instances {
		if inc.done[in] || inc.evacWait[in] || e.copyElsewhere(now, h, in) {
			continue
		}
		// Capacity may be back: a host turned healthy since the last try.
		if now.Sub(inc.evacAt[in]) >= e.evacBackoff(inc.evacTries[in]) || e.healthyAt.After(inc.evacAt[in]) {
			todo = append(todo, in)
			inc.evacTries[in]++
			inc.evacAt[in] = now
			inc.evacWait[in] = true
		}
	}
	if len(todo) > 0 {
		e.emit(Action{Kind: ActEvacuate, Host: h.Name, Instances: todo, Avoid: e.untrusted(h.Name), FenceMethod: inc.fence.Method, Rule: "evacuate-retry",
			Stopped: inc.stoppedOf(todo), Reason: fmt.Sprintf("retrying evacuation of %d instances", len(todo))})
	}
}

// evacBackoff is the wait after an instance's tries-th failed evacuation:
// EvacuateRetry doubling up to EvacuateRetryMax. It never ends: an
// instance that is still vigil's to move is retried until it runs.
func (e *Engine) evacBackoff(tries int) time.Duration {
	if tries < 1 {
		return 0
	}
	wait := e.cfg.EvacuateRetry << min(tries-1, 30)
	if wait > e.cfg.EvacuateRetryMax || wait <= 0 {
		wait = e.cfg.EvacuateRetryMax
	}
	return wait
}

func (e *Engine) fenceResult(now time.Time, r FenceResult) {
	h := e.hosts[r.Host]
	if h != nil && len(r.Records) > 0 {
		// Whatever the result counts for, its devices did this: it is
		// in force until lifted.
		e.keepRecords(now, h, r.Records)
	}
	// A fence sent before maintenance began still counts: it happened.
	if h == nil || h.inc == nil || h.phase() != Fencing || h.inc.fence != nil {
		return
	}
	inc := h.inc
	if !inc.inFlight {
		return // no fence of this incident is out: a result of another (an older term's, a cancelled one's)
	}
	inc.inFlight = false
	if r.Aborted != NotAborted {
		e.fenceAborted(now, h, r)
		return
	}
	if r.OK {
		inc.fence = &Fence{At: now, Method: r.Method, Proof: r.Proof, Level: r.Level}
		if h.state == Maintenance {
			e.persist(h) // no transition will record it before maintenance ends
		}
		return
	}
	inc.lastErr = fmt.Sprintf("level %d %s: %s", r.Level, r.Method, r.Err)
	if h.state == Maintenance {
		return // nothing is tried while an operator owns the host; fencing resumes after
	}
	inc.roundErrs = append(inc.roundErrs, inc.lastErr)
	if inc.level < e.levels(h) {
		inc.level++
		e.transition(now, h, Fencing, "fence-next-level", []string{inc.lastErr, fmt.Sprintf("trying level %d", inc.level)})
		return
	}
	inc.attempts++
	inc.level = 1
	wait := backoff(e.cfg.FenceRetry, e.cfg.FenceRetryMax, inc.attempts)
	inc.nextTry = now.Add(wait)
	why := strings.Join(inc.roundErrs, "; ")
	inc.roundErrs = nil
	e.transition(now, h, Fencing, "fence-failed", []string{why, fmt.Sprintf("every level failed (round %d); no evacuation; retry in %v", inc.attempts, wait)})
	delete(h.alerted, "fence-failed")
	e.alert(h, "fence-failed", fmt.Sprintf("cannot fence %s (%s): its instances are held%s; retrying in %v, or confirm the host is off: vigil confirm %s", h.Name, why, e.whyNoWatchdog(h), wait, h.Name))
}

// reEnableAborted re-enables nova-compute of a host whose incident closes
// with nothing moved when the incident had forced it down: a new fence
// round of a host that came back (rejoin-silent) found it alive again.
// Nothing else would, and the host would run forced down for good (found
// by vigil lab fuzz --seed 1796593582, schedule 4, under the manual
// rejoin policy: the host waited rejoin-ready, fell silent, and its new
// round was aborted). A host in maintenance has it sent when maintenance
// ends, as a re-enable never written is.
func (e *Engine) reEnableAborted(h *host, inc *incident, rule string) {
	if !inc.forced && !h.nova.ForcedDown { // forced is not persisted: a new leader reads Nova
		return
	}
	a := Action{Kind: ActReEnable, Host: h.Name, Rule: rule, Reason: "the incident had forced nova-compute down and closes with nothing moved: unset forced-down and enable nova-compute"}
	if h.maintenance {
		h.resend = append(h.resend, a)
		return
	}
	e.emit(a)
}

// fenceAborted closes an incident whose fence the executor stopped before
// any device acted: the host showed life, so it is judged again from the
// evidence, not counted a failed fence. A probe answer alone (no agent,
// peer or storage life) is remembered: silence counts again from now, and
// the next fence of this episode will not abort on a ping (a hung
// userspace whose kernel answers must still be fenced).
func (e *Engine) fenceAborted(now time.Time, h *host, r FenceResult) {
	why := r.Aborted.String()
	if r.Err != "" {
		why += " (" + r.Err + ")"
	}
	ev := []string{fmt.Sprintf("level %d %s: %s; the host was not touched", r.Level, r.Method, why)}
	if r.Aborted == AbortHostAnswers && e.lifeSince(h, h.inc.sentAt) == "" {
		h.answeredAt = now
		ev = append(ev, fmt.Sprintf("vigil judges it again after %v more of silence; a ping answer alone will not stop the next fence", e.cfg.DeadAfter))
	}
	if h.anyMoved() {
		e.backToRejoining(now, h, ev)
		return
	}
	inc := h.inc
	h.inc = nil
	e.reEnableAborted(h, inc, "fence-aborted")
	e.transition(now, h, Suspect, "fence-aborted", ev)
	// An earlier failed level (of this leader or, restored, of another)
	// may have applied some of its devices (a blocklist went on, the power
	// read-back failed): lift them. Unfencing what is not fenced is a no-op.
	if h.maintenance {
		// An operator owns the host: nothing is done to it. The lift is
		// due, and goes out when maintenance ends (retryUnfence).
		if h.unfenceWait == 0 {
			h.unfenceWait = e.cfg.FenceRetry
		}
		if h.unfenceDue.IsZero() {
			h.liftUnmoved = true // no instance was moved
		}
		h.unfenceDue = now
		h.toLift()
		e.alert(h, "unfence-after-maintenance", fmt.Sprintf("a failed fence level of %s may have blocklisted it before the fence was aborted: vigil lifts that when maintenance ends (it does nothing to a host in maintenance); lift it sooner with vigil fence on %s if its guests must write", h.Name, h.Name))
	} else {
		e.unfence(now, h, "fence-aborted", "undo any device of a failed fence level that did act; no instance was moved, so nothing can write twice", true)
	}
	e.persist(h)
	e.alert(h, "fence-aborted", fmt.Sprintf("%s was judged failed but showed life before its power-off (%s); nothing was done to it and no instance moved: check its networks (a flapping bond looks like this)", h.Name, why))
}

func (e *Engine) evacuateResult(now time.Time, r EvacuateResult) {
	h := e.hosts[r.Host]
	if h == nil || h.inc == nil || h.inc.fence == nil && h.inc.prior == nil {
		return
	}
	inc := h.inc
	if !slices.Contains(inc.instances, r.Instance) {
		return // not an instance of this incident
	}
	if inc.fence == nil {
		// A rejoin-silent round (refence) is fencing the host again: the
		// result of an evacuation sent under the undone fence still says
		// what Nova did with it.
		inc.evacWait[r.Instance] = false
		if r.Accepted && !inc.sent[r.Instance] {
			inc.sent[r.Instance] = true
			e.persist(h)
		}
		if r.OK {
			e.moved(now, h, r.Instance)
		}
		return
	}
	inc.evacWait[r.Instance] = false
	if r.Accepted && !r.OK && !inc.sent[r.Instance] {
		inc.sent[r.Instance] = true
		e.persist(h)
	}
	switch {
	case r.FenceUnreadable:
		e.fenceUnreadable(now, h, r)
		return
	case r.FenceLost:
		inc.fenceLost = r.Err
		return
	}
	inc.unreadable, inc.rechecks = "", 0 // the fence was read: it holds
	if r.OK {
		inc.sent[r.Instance] = true
		e.moved(now, h, r.Instance)
		return
	}
	if r.Placed != "" && r.Placed != h.Name {
		// Nova places it on another host already (an earlier evacuation
		// went through, its rebuild is not finished or failed there): there
		// is nothing left to move off this host. Where it sits now decides
		// what happens next (reconcile).
		inc.sent[r.Instance] = true
		e.moved(now, h, r.Instance)
		return
	}
	if inc.evacTries[r.Instance] >= e.cfg.EvacuateAttempts {
		e.alert(h, "evacuate-failed:"+r.Instance, fmt.Sprintf("evacuation of %s from %s failed %d times (%s); vigil keeps retrying every %v at most, and at once when a host turns healthy: check capacity (openstack hypervisor list) and the instance (openstack server show %s)",
			r.Instance, h.Name, inc.evacTries[r.Instance], r.Err, e.cfg.EvacuateRetryMax, r.Instance))
	}
}

// moved counts an instance as gone from h and keeps watching where Nova
// places it until the incident closes.
func (e *Engine) moved(now time.Time, h *host, in string) {
	h.inc.markDone(in, now)
	if _, ok := e.watch[in]; !ok {
		e.watch[in] = placement{}
	}
	e.persist(h)
}

// reconcile checks, against Nova reads newer than the move, that every
// instance h's incident counted as moved runs on a healthy host. The host
// Nova places an instance on owns it: a fenced host in an incident
// evacuates what Nova lists there (Recovered included); an instance back
// on h is moved again (h is fenced); one in ERROR on a healthy host cannot
// be evacuated (vigil never evacuates from a host that is not fenced) and is
// handed to an operator.
func (e *Engine) reconcile(now time.Time, h *host) {
	inc := h.inc
	for _, in := range inc.instances {
		p, ok := e.watch[in]
		if !inc.done[in] || !ok || !p.at.After(inc.doneAt[in]) {
			continue
		}
		o := e.hosts[p.host]
		switch {
		case o == nil:
		case o == h:
			delete(inc.done, in)
			inc.evacWait[in] = false
			if h.state == Recovered {
				e.transition(now, h, Recovering, "instance-not-moved", []string{fmt.Sprintf("Nova places %s on %s again (%s): evacuating it again", in, h.Name, p.status)})
			}
			e.persist(h)
		case o.state == Healthy && p.status == NovaError:
			if _, ok := e.unresolved[in]; !ok {
				e.unresolved[in] = o.Name
				e.alert(h, "evacuated-instance-error:"+in, fmt.Sprintf("%s was moved off %s but is in ERROR on %s, which is up: vigil does not evacuate from a host that is not fenced; repair it there (openstack server reboot --hard %s, or reset its state and migrate it)", in, h.Name, o.Name, in))
			}
		}
	}
}

// forget stops watching the instances of an incident that closes.
func (e *Engine) forget(inc *incident) {
	for _, in := range inc.instances {
		delete(e.watch, in)
	}
}

// fenceUnreadable handles an evacuation the executor stopped because it
// could not read the fence. An unreadable fence is not a lifted one: the
// host may well still be off. The incident stays where it is and the
// evacuation is retried with backoff, until the fence reads again or an
// operator confirms the host is off.
func (e *Engine) fenceUnreadable(now time.Time, h *host, r EvacuateResult) {
	inc := h.inc
	if inc.evacTries[r.Instance] > 0 {
		inc.evacTries[r.Instance]-- // stopped before Nova: not an attempt
	}
	if h.state != Fenced && h.state != Recovering {
		return // stopped (fence lifted) or in maintenance: retried, if at all, when it resumes
	}
	if now.Before(inc.recheckAt) {
		return // another instance of the same round: counted and alerted
	}
	inc.rechecks++
	wait := backoff(e.cfg.EvacuateRetry, max(e.cfg.FenceRetryMax, e.cfg.EvacuateRetry), inc.rechecks)
	inc.recheckAt, inc.unreadable = now.Add(wait), r.Err
	var held []string
	for _, in := range inc.instances {
		if !inc.done[in] {
			held = append(held, in)
		}
	}
	list := strings.Join(held, ", ")
	e.transition(now, h, h.state, "fence-unreadable", []string{r.Err,
		fmt.Sprintf("an unreadable fence is not a lifted one; nothing proves it still holds either: %s not evacuated now, retry in %v (round %d)", list, wait, inc.rechecks)})
	delete(h.alerted, "fence-unreadable")
	e.alert(h, "fence-unreadable", fmt.Sprintf("cannot read the fence of %s before evacuating (%s): %s stay held; retrying in %v. Restore access to its fence device, or check the host is off and confirm it: vigil confirm %s", h.Name, r.Err, list, wait, h.Name))
}

// backoff doubles base n-1 times, up to limit.
func backoff(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// confirm records an operator's word that the host is off as its fence
// (Method "operator"). It is accepted in every phase that holds instances
// on the host, and refused, with an alert saying why, otherwise.
func (e *Engine) confirm(now time.Time, c Confirm) {
	h := e.hosts[c.Host]
	if h == nil {
		return
	}
	if why := e.confirmRefused(now, h); why != "" {
		delete(h.alerted, "confirm-refused")
		e.alert(h, "confirm-refused", fmt.Sprintf("confirm of %s by %s refused: %s", h.Name, c.By, why))
		return
	}
	// The boots heard are the ones the operator says are off: if one asks
	// for a grant again, it is refused (and its watchdog resets it). The
	// last one heard, or the one the record names (a successor that heard
	// none), and every other heard lately: the last message may have come
	// late from an ended boot while another runs.
	f := &Fence{At: now, Method: "operator", By: c.By, Proof: "operator " + c.By + " confirmed the host is off", BootID: h.self.BootID}
	if f.BootID == "" {
		f.BootID = h.grantBoot
	}
	from := now.Add(-bootsKept)
	if !h.badSince.IsZero() && h.badSince.Add(-bootsKept).Before(from) {
		from = h.badSince.Add(-bootsKept) // the whole episode, however long
	}
	for _, b := range append(h.bootsSince(from), h.grantBoot, h.echoedBoot, h.recordBoot) {
		if b != "" && b != f.BootID && !slices.Contains(f.Refuse, b) {
			f.Refuse = append(f.Refuse, b)
		}
	}
	if h.inc == nil {
		h.inc = newIncident(now)
		e.transition(now, h, Fencing, "operator-confirmed", []string{f.Proof})
	}
	inc := h.inc
	inc.inFlight = false
	inc.fence = f
	// The operator's word is newer than the executor's last read.
	inc.fenceLost, inc.unreadable, inc.recheckAt = "", "", time.Time{}
	if h.state == Fencing {
		return // the next Tick verifies it like any fence
	}
	left := 0
	for _, in := range inc.instances {
		if !inc.done[in] {
			left++
		}
	}
	// Fenced again: the next Tick evacuates what is still here.
	e.transition(now, h, Fenced, "operator-confirmed", []string{f.Proof, fmt.Sprintf("%d of %d instances still to move", left, len(inc.instances))})
	e.persist(h)
}

// confirmRefused says why an operator's confirm cannot be taken for h now,
// or "": refused for a host that shows life, and where nothing is held.
func (e *Engine) confirmRefused(now time.Time, h *host) string {
	if h.maintenance {
		return "it is in maintenance and vigil does nothing to it; take it out of maintenance first (an open incident resumes then)"
	}
	if life := e.showsLife(now, h); life != "" {
		return life + ": a confirm says the host is off, and it shows life; power it off first if it must go"
	}
	switch h.state {
	case Failed, Suspect, Fencing, Fenced, Recovering:
		return ""
	case Rejoining:
		for _, in := range h.inc.instances {
			if !h.inc.done[in] {
				return ""
			}
		}
		return "every instance of it already runs elsewhere: nothing is held; it rejoins once it answers and runs none of them"
	case Recovered:
		return "every instance of it already runs elsewhere: nothing is held"
	}
	return fmt.Sprintf("it is %s: vigil holds nothing for it", h.state)
}

// showsLife names positive evidence that h runs now, or "": its agent or a
// peer answers, its storage heartbeat moves, or its BMC reads power on.
func (e *Engine) showsLife(now time.Time, h *host) string {
	switch a := e.assess(h, now); a.state {
	case Healthy, ServiceDegraded, NetworkDegraded, Isolated:
		return fmt.Sprintf("it answers (%s: %s)", a.state, strings.Join(e.evidence(h, now), "; "))
	}
	if h.bmc == PowerOn && fresh(h.bmcAt, now, e.cfg.BMCFreshness) {
		return "its BMC reads the power on"
	}
	return ""
}

// untrusted lists the hosts, other than source, that are not healthy in
// vigil's eyes: Nova's scheduler would still pick a host that went silent
// seconds ago, because Nova notices only after service_down_time. A host
// counts by its state and by this tick's judgement of it: Tick judges every
// host before any acts, and a host that went bad in this same tick must not
// receive instances because its turn comes later.
func (e *Engine) untrusted(source string) []string { return e.untrustedBy(source, e.assessed) }

// untrustedBy is untrusted with assessed the judgement of every host (in
// e.order), or none.
func (e *Engine) untrustedBy(source string, assessed []assessment) []string {
	var out []string
	judged := len(assessed) == len(e.order)
	for i, name := range e.order {
		bad := e.hosts[name].state != Healthy || (judged && assessed[i].state != Healthy)
		if name != source && bad {
			out = append(out, name)
		}
	}
	return out
}
