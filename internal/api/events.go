package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// TransitionEvent is the history's entry for a transition.
func TransitionEvent(t decision.Transition) Event {
	return Event{At: t.At, Host: t.Host, Kind: KindTransition, From: string(t.From), To: string(t.To), Rule: t.Rule, Evidence: t.Evidence}
}

// ActionEvent is the history's entry for an action the engine decided at.
func ActionEvent(at time.Time, a decision.Action) Event {
	return Event{At: at, Host: a.Host, Kind: KindAction, Action: a.String(), Rule: a.Rule, Reason: a.Reason}
}

// ResultEvent is the history's entry for an executor's result received at;
// false for an input that is no action's result.
func ResultEvent(at time.Time, in decision.Input) (Event, bool) {
	ev := Event{At: at, Kind: KindResult}
	switch r := in.(type) {
	case decision.FenceResult:
		ev.Host, ev.Action = r.Host, fmt.Sprintf("fence(level %d)", r.Level)
		switch {
		case r.OK:
			ev.Reason = "verified: " + r.Proof
		case r.Aborted != decision.NotAborted:
			ev.Reason = r.Aborted.String()
		default:
			ev.Reason = "failed: " + r.Err
		}
	case decision.EvacuateResult:
		ev.Host, ev.Action = r.Host, "evacuate("+r.Instance+")"
		switch {
		case r.OK:
			ev.Reason = "runs on " + r.Target
		case r.Accepted:
			ev.Reason = strings.TrimSuffix("accepted by Nova, not yet running: "+r.Err, ": ")
		case r.Elsewhere():
			ev.Reason = "already on " + r.Placed + " (" + r.Status + "): nothing sent"
		default:
			ev.Reason = "failed: " + r.Err
		}
	case decision.UnfenceResult:
		ev.Host, ev.Action, ev.Reason = r.Host, "unfence", okOr(r.OK, r.Err)
	case decision.RenewResult:
		ev.Host, ev.Action, ev.Reason = r.Host, "renew-fence", okOr(r.OK, r.Err)
		if r.Lapsed {
			ev.Reason = "found lapsed and added again"
		}
	default:
		return Event{}, false
	}
	return ev, true
}

func okOr(ok bool, err string) string {
	if ok {
		return "done"
	}
	return "failed: " + err
}
