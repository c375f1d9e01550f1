package api

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/decision"
)

func TestEvents(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 4, 5, 0, time.UTC)
	got := []Event{
		TransitionEvent(decision.Transition{At: at, Host: "cmp1", From: decision.Healthy, To: decision.ServiceDegraded, Rule: "service-down", Evidence: []string{"agent: nova-compute not running"}}),
		ActionEvent(at, decision.Action{Kind: decision.ActFence, Host: "cmp2", Level: 1, Rule: "fence-before-recovery", Reason: "all paths silent"}),
	}
	for _, in := range []decision.Input{
		decision.FenceResult{Host: "cmp2", Level: 1, OK: true, Proof: "chassis power off"},
		decision.FenceResult{Host: "cmp2", Level: 2, Err: "BMC timeout"},
		decision.FenceResult{Host: "cmp2", Level: 1, Aborted: decision.AbortHostAnswers},
		decision.EvacuateResult{Host: "cmp2", Instance: "vm1", OK: true, Target: "cmp3"},
		decision.EvacuateResult{Host: "cmp2", Instance: "vm2", Accepted: true, Err: "still REBUILD"},
		decision.UnfenceResult{Host: "cmp2", OK: true},
		decision.RenewResult{Host: "cmp2", OK: true, Lapsed: true},
	} {
		ev, ok := ResultEvent(at, in)
		if !ok {
			t.Fatalf("%T is a result", in)
		}
		got = append(got, ev)
	}
	if _, ok := ResultEvent(at, decision.Confirm{Host: "cmp2"}); ok {
		t.Error("a confirm is no action's result")
	}
	want := []Event{
		{At: at, Host: "cmp1", Kind: "transition", From: "healthy", To: "service-degraded", Rule: "service-down", Evidence: []string{"agent: nova-compute not running"}},
		{At: at, Host: "cmp2", Kind: "action", Action: "fence(level 1)", Rule: "fence-before-recovery", Reason: "all paths silent"},
		{At: at, Host: "cmp2", Kind: "result", Action: "fence(level 1)", Reason: "verified: chassis power off"},
		{At: at, Host: "cmp2", Kind: "result", Action: "fence(level 2)", Reason: "failed: BMC timeout"},
		{At: at, Host: "cmp2", Kind: "result", Action: "fence(level 1)", Reason: "aborted: host answers"},
		{At: at, Host: "cmp2", Kind: "result", Action: "evacuate(vm1)", Reason: "runs on cmp3"},
		{At: at, Host: "cmp2", Kind: "result", Action: "evacuate(vm2)", Reason: "accepted by Nova, not yet running: still REBUILD"},
		{At: at, Host: "cmp2", Kind: "result", Action: "unfence", Reason: "done"},
		{At: at, Host: "cmp2", Kind: "result", Action: "renew-fence", Reason: "found lapsed and added again"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}
