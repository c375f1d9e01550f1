package daemon

import (
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/decision"
)

// Events keeps the last N events in memory: what vigil explain and vigil
// history show. What must survive a restart is in the journal; this is the
// explanation of the recent past, as this controller saw it.
type Events struct {
	mu      sync.Mutex
	max     int
	list    []api.Event
	pending []api.Event // added since the last Flush
}

// NewEvents keeps up to max events.
func NewEvents(max int) *Events { return &Events{max: max} }

// Add notes events.
func (e *Events) Add(ev ...api.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev...)
	if over := len(e.list) - e.max; over > 0 {
		e.list = slices.Delete(e.list, 0, over)
	}
	e.pending = append(e.pending, ev...)
	if over := len(e.pending) - e.max; over > 0 {
		e.pending = slices.Delete(e.pending, 0, over)
	}
}

// Flush returns the events added since the last Flush.
func (e *Events) Flush() []api.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pending
	e.pending = nil
	return p
}

// Load replaces the history with stored, the store's (older controllers'
// and this one's), keeping the events noted here since the newest stored
// one.
func (e *Events) Load(stored []api.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var newest time.Time
	if len(stored) > 0 {
		newest = stored[len(stored)-1].At
	}
	list := slices.Clone(stored)
	for _, ev := range e.list {
		if ev.At.After(newest) {
			list = append(list, ev)
		}
	}
	if over := len(list) - e.max; over > 0 {
		list = list[over:]
	}
	e.list = list
}

// Ready notes a Ready's transitions and actions (alerts are noted by
// Alert, when they go out).
func (e *Events) Ready(at time.Time, rd decision.Ready) {
	var evs []api.Event
	for _, t := range rd.Transitions {
		evs = append(evs, api.TransitionEvent(t))
	}
	for _, a := range rd.Actions {
		if a.Kind != decision.ActAlert {
			evs = append(evs, api.ActionEvent(at, a))
		}
	}
	e.Add(evs...)
}

// Alert notes an alert as it goes out.
func (e *Events) Alert(at time.Time, a decision.Action) { e.Add(api.ActionEvent(at, a)) }

// Result notes an executor's result.
func (e *Events) Result(at time.Time, in decision.Input) {
	if ev, ok := api.ResultEvent(at, in); ok {
		e.Add(ev)
	}
}

// Last returns host's last n events, oldest first; host "" is every host,
// n <= 0 all of them.
func (e *Events) Last(host string, n int) []api.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []api.Event
	for i := len(e.list) - 1; i >= 0 && (n <= 0 || len(out) < n); i-- {
		if host == "" || e.list[i].Host == host {
			out = append(out, e.list[i])
		}
	}
	slices.Reverse(out)
	return out
}
