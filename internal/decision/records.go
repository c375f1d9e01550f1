package decision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The executor's records of what a host's fences did (FenceResult.Records:
// fence.Proof as JSON) are kept with the host, journaled with its record,
// and handed back on its renewals and unfences, so that whichever leader
// lifts a fence lifts exactly what the fences added, however many leaders
// ago. The engine never reads them.
//
// fenceRecs are in force (the current episode's fences, failed levels
// included); an unfence moves them to liftRecs, kept until an unfence
// succeeds; a new incident takes back any still to lift (its fences apply
// now, and its rejoin lifts them all).

// addRecords keeps what a fence level's devices did.
func (h *host) addRecords(rs []json.RawMessage) {
	h.fenceRecs = mergeRecords(h.fenceRecs, rs)
}

// toLift moves the records in force to those an unfence lifts.
func (h *host) toLift() {
	h.liftRecs, h.fenceRecs = mergeRecords(h.liftRecs, h.fenceRecs), nil
	h.liftSince, h.fenceSince = earliest(h.liftSince, h.fenceSince), time.Time{}
}

// reclaimLift takes records still to lift back into force: a new incident
// holds the host again.
func (h *host) reclaimLift() {
	h.fenceRecs, h.liftRecs = mergeRecords(h.liftRecs, h.fenceRecs), nil
	h.fenceSince, h.liftSince = earliest(h.liftSince, h.fenceSince), time.Time{}
	h.liftUnmoved = false // what it held may need reset evidence: the next lift decides anew
}

// opened notes an incident opening at t: its fences are in force from then.
func (h *host) opened(t time.Time) {
	h.reclaimLift()
	h.fenceSince = earliest(h.fenceSince, t)
}

// earliest is the earlier of two times, a zero one not counting.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// renewed replaces the records a renewal was sent with by those it returned.
func (h *host) renewed(sent, got []json.RawMessage) {
	if got == nil {
		return
	}
	drop := func(rs []json.RawMessage) []json.RawMessage {
		return slices.DeleteFunc(slices.Clone(rs), func(r json.RawMessage) bool { return containsRecord(sent, r) })
	}
	h.fenceRecs, h.liftRecs = drop(h.fenceRecs), drop(h.liftRecs)
	if h.inc == nil {
		h.liftRecs = mergeRecords(h.liftRecs, got)
	} else {
		h.fenceRecs = mergeRecords(h.fenceRecs, got)
	}
}

// mergeRecords is a followed by those of b it does not hold already.
func mergeRecords(a, b []json.RawMessage) []json.RawMessage {
	out := slices.Clone(a)
	for _, r := range b {
		if !containsRecord(out, r) {
			out = append(out, slices.Clone(r))
		}
	}
	return out
}

func containsRecord(rs []json.RawMessage, r json.RawMessage) bool {
	return slices.ContainsFunc(rs, func(x json.RawMessage) bool { return bytes.Equal(x, r) })
}

// keepRecords takes what a fence's devices did. With an incident open they
// are in force until its rejoin lifts them; with none (the fence's incident
// is gone: a result that outlived it) nothing relies on them, and they are
// lifted now, or when maintenance ends.
func (e *Engine) keepRecords(now time.Time, h *host, rs []json.RawMessage) {
	defer e.persist(h)
	if h.inc != nil {
		h.addRecords(rs)
		return
	}
	h.liftRecs = mergeRecords(h.liftRecs, rs)
	if h.maintenance {
		if h.unfenceWait == 0 {
			h.unfenceWait = e.cfg.FenceRetry
		}
		if h.unfenceDue.IsZero() {
			h.liftUnmoved = true
		}
		h.unfenceDue = now
		return
	}
	e.alert(h, "fence-outlived-incident", fmt.Sprintf("a fence of %s reported after its incident had ended: vigil lifts what its devices did", h.Name))
	e.unfence(now, h, "fence-outlived-incident", "the fence's incident has ended: nothing relies on what its devices did", true)
}
