package nova

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/vigil-ha/vigil/internal/decision"
)

// evacuate moves one instance off a.Host and reports what Nova did:
//
//   - it reads the server first: one Nova no longer places on a.Host (an
//     earlier evacuation went through) or with a task in flight is not
//     asked for again (Placed and Status say where it is);
//   - right before each evacuate request it re-reads the fence; lifted or
//     unreadable stops it there (FenceLost, FenceUnreadable; Nova never
//     asked, Accepted false);
//   - a request that failed transiently is sent again only if a read of the
//     server shows Nova did not take it;
//   - once accepted, it polls until the server is ACTIVE on another host,
//     or SHUTOFF when it was stopped (stopping it again when Nova started
//     it: below microversion 2.95 an evacuation starts a stopped server).
//
// OK: running ACTIVE (or, stopped, SHUTOFF) on Target. Target is otherwise
// the host vigil asked for ("" for the scheduler's choice).
func (e *Executor) evacuate(ctx context.Context, a decision.Action, id, target string, stopped bool, log *slog.Logger) decision.EvacuateResult {
	res := decision.EvacuateResult{Host: a.Host, Instance: id, Target: target}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.EvacuateTimeout)
	defer cancel()
	s, err := e.nova.Server(ctx, id)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Placed, res.Status = s.Host, s.Status
	switch {
	case s.Host != a.Host:
		res.Err = fmt.Sprintf("nova: %s is placed on %q already, not on %s: nothing sent (an earlier evacuation went through)", id, s.Host, a.Host)
		return res
	case s.TaskState != "":
		res.Err = fmt.Sprintf("nova: %s has task %q in flight (%s): not evacuated now", id, s.TaskState, s.Status)
		return res
	}
	stopped = stopped || s.Status == decision.NovaShutoff // never start what a user stopped
	mv := e.nova.evacuateMicroversion()
	wait := e.nova.cfg.Backoff
	for attempt := 1; ; attempt++ {
		state, detail := e.fence(ctx, a.Host, a.FenceMethod)
		switch state {
		case FenceLifted:
			res.FenceLost, res.Err = true, "fence re-read before evacuating "+id+": "+detail
			return res
		case FenceUnreadable:
			res.FenceUnreadable, res.Err = true, "fence re-read before evacuating "+id+": "+detail
			return res
		}
		err = e.nova.evacuate(ctx, id, target, mv)
		if err == nil {
			break
		}
		if mv == keepStoppedMicroversion && gophercloud.ResponseCodeIs(err, 400) {
			// 2.95 needs every compute at Antelope or later; Nova refuses
			// it with a 400 otherwise, before anything happened.
			log.Warn("evacuate at 2.95 refused: falling back to the base microversion", "err", err)
			mv = baseMicroversion
			continue
		}
		if !Transient(err) || attempt > e.nova.cfg.Retries || ctx.Err() != nil {
			res.Err = fmt.Sprintf("nova: evacuate %s: %v", id, err)
			if s, rerr := e.nova.Server(ctx, id); rerr == nil {
				res.Placed, res.Status = s.Host, s.Status
			}
			return res
		}
		// No answer: did Nova take it? It sets the task before it answers.
		if s, rerr := e.nova.Server(ctx, id); rerr == nil && (s.Host != a.Host || s.TaskState != "") {
			log.Warn("evacuate answer lost, but Nova took it", "attempt", attempt, "err", err)
			break
		}
		log.Warn("evacuate failed, retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
	res.Accepted = true
	start := time.Now()
	var onSource time.Time // since when the server shows no task, still on a.Host
	s, err = e.nova.waitServer(ctx, id, e.cfg.Poll, func(s Server) bool {
		log.Debug("moving", "status", s.Status, "placed", s.Host, "task_state", s.TaskState)
		switch {
		case s.Status == decision.NovaError:
			return true
		case s.TaskState != "":
			onSource = time.Time{}
			return false
		case s.Host == a.Host:
			// Either Nova gave up (no valid host: the conductor clears the
			// task and nothing moved) or the rebuild finished and the host
			// is not written yet: Nova 26 clears the task before it
			// writes the new host (seen for ~200 ms on the test bed).
			// Only a server that stays so for Settle has not moved.
			if onSource.IsZero() {
				onSource = time.Now()
			}
			return time.Since(onSource) >= e.cfg.Settle
		}
		return s.Status == decision.NovaActive || s.Status == decision.NovaShutoff
	})
	res.Placed, res.Status = s.Host, s.Status
	switch {
	case err != nil:
		res.Err = err.Error()
		return res
	case s.Status == decision.NovaError:
		res.Err = fmt.Sprintf("nova: %s is in ERROR on %q after the evacuation", id, s.Host)
		return res
	case s.Host == a.Host:
		res.Err = fmt.Sprintf("nova: accepted the evacuation of %s but left it on %s (%s): no valid host?", id, a.Host, s.Status)
		return res
	case !stopped && s.Status != decision.NovaActive:
		res.Err = fmt.Sprintf("nova: %s came up %s on %s, not ACTIVE", id, s.Status, s.Host)
		return res
	}
	if stopped && s.Status == decision.NovaActive {
		log.Info("evacuated stopped server came up ACTIVE: stopping it again", "placed", s.Host)
		if err := e.nova.Stop(ctx, id); err != nil && !gophercloud.ResponseCodeIs(err, 409) {
			res.Err = err.Error()
			return res
		}
		on := s.Host
		s, err = e.nova.waitServer(ctx, id, e.cfg.Poll, func(s Server) bool {
			return s.Host != on || s.TaskState == "" && s.Status != decision.NovaActive
		})
		res.Placed, res.Status = s.Host, s.Status
		if err != nil || s.Host != on || s.Status != decision.NovaShutoff {
			res.Err = fmt.Sprintf("nova: %s evacuated to %s but not stopped again (%s on %q): %v", id, on, s.Status, s.Host, err)
			return res
		}
	}
	res.OK, res.Target = true, s.Host
	log.Info("evacuated", "placed", s.Host, "status", s.Status, "took", time.Since(start).Round(time.Millisecond).String())
	return res
}
