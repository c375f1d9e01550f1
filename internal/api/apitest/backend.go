// Package apitest holds a test double of api.Backend, for the tests of the
// API and of the CLI that talks to it. Production code must not import it.
package apitest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// Backend is a test double of api.Backend: a controller held in memory
// whose hosts, history and leadership a test sets, and which records what
// is submitted to it (adding the operator's event to its history, as the
// real one does). Safe for concurrent use.
type Backend struct {
	// mu guards everything below.
	mu        sync.Mutex
	self      string
	leading   bool
	hosts     []decision.HostStatus
	events    []api.Event
	submitted []decision.Input
	plans     map[string]decision.Plan
}

var _ api.Backend = (*Backend)(nil)

// New returns a backend of member self that leads, with hosts.
func New(self string, hosts ...decision.HostStatus) *Backend {
	return &Backend{self: self, leading: true, hosts: hosts}
}

// SetLeading makes the member lead or not.
func (b *Backend) SetLeading(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leading = on
}

// AddHost adds a host's status (keep them sorted by name).
func (b *Backend) AddHost(s decision.HostStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hosts = append(b.hosts, s)
}

// AddEvents appends to the history (oldest first).
func (b *Backend) AddEvents(ev ...api.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, ev...)
}

// Submitted returns what was submitted, in order.
func (b *Backend) Submitted() []decision.Input {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.submitted)
}

// Status implements api.Backend.
func (b *Backend) Status(ctx context.Context) ([]decision.HostStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.leading {
		return nil, controller.ErrNotLeading
	}
	return slices.Clone(b.hosts), nil
}

// Events implements api.Backend.
func (b *Backend) Events(host string, n int) []api.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.Event
	for _, e := range b.events {
		if host == "" || e.Host == host {
			out = append(out, e)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Submit implements api.Backend.
func (b *Backend) Submit(ctx context.Context, in decision.Input, ev api.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.leading {
		return controller.ErrNotLeading
	}
	b.submitted = append(b.submitted, in)
	b.events = append(b.events, ev)
	return nil
}

// SetPlan sets what Plan answers for p.Host (by default, a plan that
// would act, with the host's state and no instances).
func (b *Backend) SetPlan(p decision.Plan) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.plans == nil {
		b.plans = map[string]decision.Plan{}
	}
	b.plans[p.Host] = p
}

// Plan implements api.Backend: decision.ErrUnknownHost for a host it has
// no status of.
func (b *Backend) Plan(ctx context.Context, host string) (decision.Plan, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.leading {
		return decision.Plan{}, controller.ErrNotLeading
	}
	i := slices.IndexFunc(b.hosts, func(s decision.HostStatus) bool { return s.Name == host })
	if i < 0 {
		return decision.Plan{}, fmt.Errorf("%w %q", decision.ErrUnknownHost, host)
	}
	if p, ok := b.plans[host]; ok {
		return p, nil
	}
	s := b.hosts[i]
	return decision.Plan{Host: host, State: s.State, Rule: s.Rule, WouldAct: true, Fence: []decision.PlannedLevel{{Level: 1}}}, nil
}

// Leader implements api.Backend.
func (b *Backend) Leader() api.Leader {
	b.mu.Lock()
	defer b.mu.Unlock()
	return api.Leader{Self: b.self, Leading: b.leading}
}
