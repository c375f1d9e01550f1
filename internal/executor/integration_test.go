package executor_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// The engine → executor → real devices loop, end to end. host0 hangs: its
// processes stop, it stays powered on and its network stack still answers,
// but its agent and its storage heartbeat go silent. The engine fails it on
// its own clock; the executor's last look before the power-off finds it
// answering ping and stops (stale evidence looks like this); after another
// dead_after of agent-level silence the engine fails it again, and this
// time a ping alone does not stop the fence: level 1 (IPMI, a wrong
// password) is refused by the BMC, level 2 (fence_ipmilan) cuts the power of
// the lab host for real, and only then does the engine force it down in Nova
// and evacuate its guests.
func TestIntegrationHungHostIsFencedAtLevel2ThenEvacuated(t *testing.T) {
	integration(t)
	in := newIncident(t, credentials{ipmi: wrong, agent: right})
	in.advance(12) // a quiet start
	in.checkHealthy()

	in.hang(0)
	in.runUntil("host0 fenced and its guests evacuated", 30, func() bool { return in.emitted(decision.ActEvacuate) })
	in.advance(1) // nothing more happens

	if diff := cmp.Diff([]string{
		"+12s host0 hangs: processes stopped, still powered on",
		"+15s host0 healthy → suspect (silent)",
		"+18s host0 suspect → failed (all-paths-silent)",
		"+18s host0 failed → fencing (fence-before-recovery)",
		"+18s fence(level 1) host0",
		"+18s host0 level 1 ipmi: aborted",
		"+18s host0 fencing → suspect (fence-aborted)",
		"+19s unfence host0 [host on]",
		"+19s alert(fence-aborted) host0 [host on]",
		"+24s host0 suspect → failed (all-paths-silent)",
		"+24s host0 failed → fencing (fence-before-recovery)",
		"+24s fence(level 1) host0",
		"+24s host0 level 1 ipmi: failed",
		"+24s host0 fencing → fencing (fence-next-level)",
		"+25s fence(level 2) host0",
		"+25s host0 level 2 fence-agent: fenced",
		"+26s host0 fencing → fenced (fence-verified)",
		"+26s host0 fenced → recovering (evacuate-after-fence)",
		"+26s force-down host0 [host off]",
		"+26s evacuate(db-1,web-1) host0 [host off]",
	}, in.story()); diff != "" {
		t.Errorf("incident (-want +got):\n%s", diff)
	}

	// Level 1: the BMC refused the login, and the engine says why it moved
	// on. FenceResult carries the reason as text (engine input is data);
	// the typed error is checked on the executor's steps.
	l1, l2 := in.fenceResult(1), in.fenceResult(2)
	if l1.fence.OK || l1.fence.Method != "ipmi" || !strings.Contains(l1.fence.Err, fence.ErrAuth.Error()) {
		t.Errorf("level 1 = %+v, want ipmi failing with %q", l1.fence, fence.ErrAuth)
	}
	if len(l1.steps) != 1 || !errors.Is(l1.steps[0].Err, fence.ErrAuth) {
		t.Errorf("level 1 steps = %+v, want one off failing with ErrAuth (not retried)", l1.steps)
	}
	if tr := in.transition("fence-next-level"); tr == nil || !strings.Contains(strings.Join(tr.Evidence, "; "), "level 1 ipmi: "+l1.fence.Err) {
		t.Errorf("fence-next-level transition = %+v, want level 1's reason %q in its evidence", tr, l1.fence.Err)
	}
	// Level 2: fence_ipmilan powered the host off, and the peer's ping
	// probe saw it go silent (a probe that never saw it answer would say
	// "inconclusive").
	if !l2.fence.OK || l2.fence.Method != "fence-agent" ||
		!strings.Contains(l2.fence.Proof, "fence_ipmilan action=off exited 0") || !strings.Contains(l2.fence.Proof, "probe: host no longer answers") {
		t.Errorf("level 2 = %+v, want fence_ipmilan's proof and the probe's", l2.fence)
	}
	if l2.on {
		t.Error("level 2 reported a verified fence while host0 still had processes")
	}
	if tr := in.transition("fence-verified"); tr == nil || len(tr.Evidence) != 1 || !strings.Contains(tr.Evidence[0], l2.fence.Proof) {
		t.Errorf("fence-verified transition = %+v, want the level 2 proof as its evidence", tr)
	}
	in.checkFenced(0)

	// What the store held when the evacuation went out: the fence, level 2.
	if rec := in.stored["host0"]; rec.Fence == nil || rec.Fence.Level != 2 || rec.Fence.Method != "fence-agent" || rec.Phase != decision.Recovering {
		t.Errorf("stored record = %+v, want phase recovering with the level 2 fence", rec)
	}
	if ev := in.action(decision.ActEvacuate); len(ev.act.Avoid) != 0 {
		t.Errorf("evacuate avoids %v, want no host (host1 and host2 are healthy)", ev.act.Avoid)
	}
	in.checkPeersUntouched()
}

// Every level has a wrong password: no fence holds, so nothing is forced
// down or evacuated. The engine alerts fence-failed with the reason, holds
// the host, waits the backoff on its own clock and tries every level again,
// then doubles the wait. host0 is never powered off.
func TestIntegrationFenceFailsEverywhereNothingMoves(t *testing.T) {
	integration(t)
	in := newIncident(t, credentials{ipmi: wrong, agent: wrong})
	in.advance(12) // a quiet start
	in.checkHealthy()

	in.hang(0)
	in.runUntil("two rounds of fencing failed", 40, func() bool { return in.alerts("fence-failed") == 2 })

	if diff := cmp.Diff([]string{
		"+12s host0 hangs: processes stopped, still powered on",
		"+15s host0 healthy → suspect (silent)",
		"+18s host0 suspect → failed (all-paths-silent)",
		"+18s host0 failed → fencing (fence-before-recovery)",
		// The last look before the power-off: host0's kernel answers ping.
		"+18s fence(level 1) host0",
		"+18s host0 level 1 ipmi: aborted",
		"+18s host0 fencing → suspect (fence-aborted)",
		"+19s unfence host0 [host on]",
		"+19s alert(fence-aborted) host0 [host on]",
		// Silent another dead_after: a ping answer alone no longer stops it.
		"+24s host0 suspect → failed (all-paths-silent)",
		"+24s host0 failed → fencing (fence-before-recovery)",
		"+24s fence(level 1) host0",
		"+24s host0 level 1 ipmi: failed",
		"+24s host0 fencing → fencing (fence-next-level)",
		"+25s fence(level 2) host0",
		"+25s host0 level 2 fence-agent: failed",
		"+25s host0 fencing → fencing (fence-failed)",
		"+26s alert(fence-failed) host0 [host on]",
		// fence_retry 5s after the round failed at +25s.
		"+30s fence(level 1) host0",
		"+30s host0 level 1 ipmi: failed",
		"+30s host0 fencing → fencing (fence-next-level)",
		"+31s fence(level 2) host0",
		"+31s host0 level 2 fence-agent: failed",
		"+31s host0 fencing → fencing (fence-failed)",
		"+32s alert(fence-failed) host0 [host on]",
	}, in.story()); diff != "" {
		t.Errorf("incident (-want +got):\n%s", diff)
	}

	l1, l2 := in.fenceResult(1), in.fenceResult(2)
	if !strings.Contains(l1.fence.Err, fence.ErrAuth.Error()) {
		t.Errorf("level 1 = %+v, want %q", l1.fence, fence.ErrAuth)
	}
	if l2.fence.OK || l2.fence.Err == "" {
		t.Errorf("level 2 = %+v, want fence_ipmilan's failure", l2.fence)
	}
	alert := in.alert("fence-failed")
	if reason := "level 2 fence-agent: " + l2.fence.Err; !strings.Contains(alert.act.Reason, reason) || !strings.Contains(alert.act.Reason, "retrying in 5s") {
		t.Errorf("alert reason = %q, want it to name %q and the retry", alert.act.Reason, reason)
	}
	// Level 1's clear reason must survive level 2's vaguer one.
	if !strings.Contains(alert.act.Reason, "level 1 ipmi: ") || !strings.Contains(alert.act.Reason, "authentication failed") {
		t.Errorf("alert reason = %q, want level 1's authentication failure too", alert.act.Reason)
	}
	for i, want := range []string{"round 1); no evacuation; retry in 5s", "round 2); no evacuation; retry in 10s"} {
		trs := in.transitions("fence-failed")
		if len(trs) != 2 || !strings.Contains(strings.Join(trs[i].Evidence, "; "), want) {
			t.Errorf("fence-failed transitions = %+v, want #%d to say %q", trs, i+1, want)
		}
	}
	if st := in.status("host0"); st.State != decision.Fencing || !st.Held || st.Fence != nil {
		t.Errorf("host0 status = %+v, want fencing, held, no fence", st)
	}
	if n := in.count(decision.ActForceDown) + in.count(decision.ActEvacuate); n != 0 {
		t.Errorf("%d force-down/evacuate actions without a fence", n)
	}
	// Still on: its processes are there (stopped) and its links are up.
	in.checkNotFenced(0)
	in.checkPeersUntouched()
}

// integration gates a test on the integration tier and the lab's tools.
func integration(tb testing.TB) {
	tb.Helper()
	tier.Integration(tb, tier.Root, "ipmi_sim", "ipmitool", "fence_ipmilan", "ip", "ping", "setsid")
}

// story is the incident in short lines, from the hang on: what a reader of
// the timeline needs to follow it. The full timeline is in the test log.
func (in *incident) story() []string {
	var out []string
	started := false
	for _, e := range in.events {
		started = started || e.note != ""
		if !started {
			continue
		}
		out = append(out, e.short())
	}
	return out
}

func (e event) short() string {
	at := fmt.Sprintf("+%ds", int(e.at.Seconds()))
	switch {
	case e.note != "":
		return at + " " + e.note
	case e.trans != nil:
		return fmt.Sprintf("%s %s %s → %s (%s)", at, e.trans.Host, e.trans.From, e.trans.To, e.trans.Rule)
	case e.fence != nil:
		outcome := map[bool]string{true: "fenced", false: "failed"}[e.fence.OK]
		if e.fence.Aborted != decision.NotAborted {
			outcome = "aborted"
		}
		return fmt.Sprintf("%s %s level %d %s: %s", at, e.fence.Host, e.fence.Level, e.fence.Method, outcome)
	case e.act.Kind == decision.ActFence:
		return fmt.Sprintf("%s %s %s", at, e.act, e.act.Host)
	default:
		return fmt.Sprintf("%s %s %s [host %s]", at, e.act, e.act.Host, map[bool]string{true: "on", false: "off"}[e.on])
	}
}
