package daemon

import (
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Event is one thing the controller decided or did, for operators
// (vigil explain, vigil history): a host's transition with its rule and
// evidence, an action sent, an alert.
type Event struct {
	At       time.Time
	Host     string
	Kind     string // "transition", "action", "alert"
	From, To string
	Rule     string
	Evidence []string
	Action   string
	Reason   string
}

// Events keeps the last N events in memory. What must survive a restart
// is in the journal; this is the explanation of the recent past.
type Events struct {
	mu   sync.Mutex
	max  int
	list []Event
}

// NewEvents keeps up to max events.
func NewEvents(max int) *Events { return &Events{max: max} }

func (e *Events) add(ev ...Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev...)
	if over := len(e.list) - e.max; over > 0 {
		e.list = slices.Delete(e.list, 0, over)
	}
}

// Ready notes a Ready's transitions and actions (alerts are noted by
// Alert, when they go out).
func (e *Events) Ready(at time.Time, rd decision.Ready) {
	var evs []Event
	for _, t := range rd.Transitions {
		evs = append(evs, Event{At: t.At, Host: t.Host, Kind: "transition", From: string(t.From), To: string(t.To),
			Rule: t.Rule, Evidence: slices.Clone(t.Evidence)})
	}
	for _, a := range rd.Actions {
		if a.Kind == decision.ActAlert {
			continue
		}
		evs = append(evs, Event{At: at, Host: a.Host, Kind: "action", Action: a.String(), Rule: a.Rule, Reason: a.Reason})
	}
	e.add(evs...)
}

// Alert notes an alert.
func (e *Events) Alert(at time.Time, a decision.Action) {
	e.add(Event{At: at, Host: a.Host, Kind: "alert", Action: a.Code, Rule: a.Rule, Reason: a.Reason})
}

// Last returns host's last n events, oldest first; host "" is every host.
func (e *Events) Last(host string, n int) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for i := len(e.list) - 1; i >= 0 && (n <= 0 || len(out) < n); i-- {
		if host == "" || e.list[i].Host == host {
			out = append(out, e.list[i])
		}
	}
	slices.Reverse(out)
	return out
}
