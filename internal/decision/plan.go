package decision

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ErrUnknownHost: the engine was asked about a host it was not given.
var ErrUnknownHost = errors.New("decision: unknown host")

// Plan is what vigil would do if a host failed now (vigil plan): a dry run
// of the cluster rules and of the incident an evidence-backed failure would
// open. Making one changes nothing and decides nothing (Engine.Plan).
type Plan struct {
	At   time.Time // the time it was made for
	Host string
	// State and Rule are where the host stands now (as of the last Tick).
	State State
	Rule  string
	// WouldAct: were the host judged failed now, vigil would open its
	// incident at once: fence it, then evacuate its instances. Otherwise
	// Hold names what stops it, and Reason says why and what ends it.
	WouldAct bool
	// Hold is "" or one of: not-leading (this engine does not lead),
	// maintenance (an operator owns the host), incident-open (vigil is
	// acting on it already), or a cluster rule's code as Tick uses it:
	// failover-grace, observer-blind, paused, brake, fence-slots.
	Hold   string
	Reason string
	// Fence is the host's fence topology, in the order vigil tries its
	// levels: the engine knows how many there are (HostInfo.FenceLevels),
	// the controller names their devices.
	Fence []PlannedLevel
	// Instances are what Nova places on the host (and, with an incident
	// open, what it already moved), in the order vigil sends their
	// evacuations, each with what vigil would do with it.
	Instances []PlannedInstance
	// NovaUnread: Nova has not been read yet, so the instances are not
	// known: vigil would fence the host and wait for Nova's list.
	NovaUnread bool
	// Avoid are the hosts vigil would not let its evacuations land on
	// (Action.Avoid), in that order, each with the state that rules it out.
	Avoid []AvoidedHost
	// Notes say what else the incident would do or could fall back on.
	Notes []string
	// Evidence is what vigil sees of the host now.
	Evidence []string
}

// PlannedLevel is one level of a host's fence topology.
type PlannedLevel struct {
	Level int // 1-based
	// Method is the level's drivers joined by "+", as FenceResult.Method
	// says them, and Devices the level's devices in words: "" and none
	// when the engine's owner did not say (the engine knows no devices).
	Method  string
	Devices []string
}

// What Plan says vigil would do with an instance (PlannedInstance.Action).
const (
	PlanEvacuate = "evacuate"         // evacuated once the host is fenced
	PlanOperator = "left-to-operator" // not moved by vigil: an operator's to look at
	PlanMoved    = "moved"            // an open incident moved it off the host already
	PlanMoving   = "moving"           // an open incident's evacuation of it is under way
)

// PlannedInstance is what vigil would do with one instance of the host.
type PlannedInstance struct {
	ID     string
	Action string // PlanEvacuate, PlanOperator, PlanMoved or PlanMoving
	// Stopped: Nova shows it SHUTOFF; it is rebuilt stopped on its target.
	Stopped bool
	// CopyOn are the other hosts that run it, or write its disk, now: an
	// evacuation would start a second copy (PlanOperator).
	CopyOn []string
	Reason string // in words, when there is more to say than the action
}

// AvoidedHost is a host vigil would keep evacuations off, and its state:
// its recorded one, or the one the evidence shows now when that is worse.
type AvoidedHost struct {
	Host  string
	State State
}

// Plan says what vigil would do if host failed now: whether the cluster
// rules would let it act (judging every host at now, as Tick would, with
// host counted failed), how it would fence host, which instances it would
// evacuate in which order and onto which hosts not, and which it would
// leave to an operator. It runs the rules and the instance selection the
// incident uses (hold, copyHolders, incident.merge, untrustedBy), and
// changes nothing: no state, no Ready, no alert.
func (e *Engine) Plan(now time.Time, host string) (Plan, error) {
	h := e.hosts[host]
	if h == nil {
		return Plan{}, fmt.Errorf("%w %q: the engine was not given it (the configuration's hosts are)", ErrUnknownHost, host)
	}
	p := Plan{At: now, Host: host, State: h.state, Rule: h.rule, Evidence: e.evidence(h, now)}
	for l := 1; l <= e.levels(h); l++ {
		p.Fence = append(p.Fence, PlannedLevel{Level: l})
	}

	// Every host judged at now, as Tick judges them before any acts, with
	// host supposed failed: the brake counts it.
	assessed := make([]assessment, len(e.order))
	var c counts
	c.reset(now.Add(-e.cfg.BrakeWindow), e.doubtRefAt(now), e.leaderSince.Add(e.cfg.FailoverGrace))
	for i, name := range e.order {
		o := e.hosts[name]
		a := e.assess(o, now)
		if o == h {
			a = assessment{state: Failed} // supposed: no rule of the engine's said so
		}
		assessed[i] = a
		e.add(&c, o, a, now)
	}

	switch {
	case !e.leader:
		p.Hold, p.Reason = "not-leading", "this engine does not lead: only the leader decides (vigil status asks it)"
	case h.maintenance:
		p.Hold, p.Reason = "maintenance", fmt.Sprintf("an operator put %s in maintenance: vigil does nothing to it until maintenance ends (vigil maintenance %s off)", host, host)
	case h.inc != nil:
		p.Hold, p.Reason = "incident-open", fmt.Sprintf("%s already has an open incident (%s since %s): vigil is acting on it now; vigil explain %s shows how far it got",
			host, h.phase(), h.since.Format("15:04:05"), host)
	default:
		p.Hold = e.hold(now, h, &c)
		p.Reason = e.holdReason(&c, now, h, p.Hold)
	}
	p.WouldAct = p.Hold == ""

	inc := e.supposed(now, h)
	p.NovaUnread = h.novaAt.IsZero() && h.inc == nil
	for _, in := range inc.instances {
		p.Instances = append(p.Instances, e.planInstance(now, h, inc, in))
	}
	for _, name := range e.untrustedBy(host, assessed) {
		st := e.hosts[name].state
		if i, _ := slices.BinarySearch(e.order, name); st == Healthy {
			st = assessed[i].state // judged bad at now, not yet by a Tick
		}
		p.Avoid = append(p.Avoid, AvoidedHost{Host: name, State: st})
	}

	if p.NovaUnread {
		p.Notes = append(p.Notes, fmt.Sprintf("Nova has not been read yet: vigil would fence %s, then wait for Nova's list of its instances before evacuating any", host))
	}
	if e.watchdogTrusted(h) {
		p.Notes = append(p.Notes, fmt.Sprintf("should every fence level fail, %s's armed watchdog counts as its fence once %v have passed since its last grant (self_fence.assume_dead_after)", host, e.cfg.SelfFenceAfter))
	}
	if h.inc == nil && !h.maintenance {
		p.Notes = append(p.Notes, fmt.Sprintf("an operator who knows %s is off can confirm it instead of any fence: vigil confirm %s", host, host))
	}
	return p, nil
}

// supposed is the incident Plan reasons about: a copy of h's own, so that
// nothing of it changes, or the one h would open now; with what Nova places
// on h merged in, as recover merges it.
func (e *Engine) supposed(now time.Time, h *host) *incident {
	inc := newIncident(now)
	if o := h.inc; o != nil {
		inc.instances = slices.Clone(o.instances)
		maps.Copy(inc.done, o.done)
		maps.Copy(inc.evacWait, o.evacWait)
		maps.Copy(inc.evacTries, o.evacTries)
		maps.Copy(inc.stopped, o.stopped)
		maps.Copy(inc.heldCopy, o.heldCopy) // its lists are read, never written
	}
	if !h.novaAt.IsZero() {
		inc.merge(h.nova, func() {})
	}
	return inc
}

// planInstance says what inc, h's incident or the one it would open, would
// do with instance in now: the checks recover and retryEvacuations make
// before they send an evacuation.
func (e *Engine) planInstance(now time.Time, h *host, inc *incident, in string) PlannedInstance {
	p := PlannedInstance{ID: in, Action: PlanEvacuate, Stopped: inc.stopped[in]}
	switch {
	case inc.done[in]:
		p.Action, p.Reason = PlanMoved, "moved off the host already"
		return p
	case inc.evacWait[in]:
		p.Action, p.Reason = PlanMoving, "its evacuation is under way"
		return p
	}
	if slices.Contains(h.nova.Instances, in) {
		if p.CopyOn = e.copyHolders(now, h, inc, in); len(p.CopyOn) > 0 {
			p.Action = PlanOperator
			p.Reason = fmt.Sprintf("%s runs it or writes its disk: vigil does not start a second copy; Nova's record of where it runs is stale: check it (openstack server show %s)", names(p.CopyOn), in)
			return p
		}
	}
	switch n := inc.evacTries[in]; {
	case n >= e.cfg.EvacuateAttempts:
		p.Reason = fmt.Sprintf("its evacuation failed %d times: vigil keeps retrying, and an operator was alerted", n)
	case p.Stopped:
		p.Reason = "Nova shows it SHUTOFF: it is rebuilt, and left stopped, on its target"
	case h.nova.Status[in] == NovaError:
		p.Reason = "Nova shows it in ERROR: it is evacuated like the others"
	}
	return p
}
