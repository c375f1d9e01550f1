package naive

import (
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Policy evacuates a host as soon as Nova reports its service down.
type Policy struct {
	hosts map[string]*host
	order []string
	out   decision.Ready
}

type host struct {
	state decision.State
	since time.Time
	nova  decision.NovaService
	done  bool // evacuated during this down episode
	fresh bool
}

// New returns the naive policy.
func New() *Policy { return &Policy{hosts: map[string]*host{}} }

// AddHost registers a host.
func (p *Policy) AddHost(info decision.HostInfo) {
	if _, ok := p.hosts[info.Name]; !ok {
		p.hosts[info.Name] = &host{state: decision.Healthy}
		p.order = append(p.order, info.Name)
	}
}

// Step looks only at Nova's service state.
func (p *Policy) Step(now time.Time, in decision.Input) {
	if s, ok := in.(decision.NovaService); ok {
		if h := p.hosts[s.Host]; h != nil {
			h.nova, h.fresh = s, true
		}
	}
}

// Tick evacuates every host Nova calls down, once per down episode.
func (p *Policy) Tick(now time.Time) decision.Ready {
	for _, name := range p.order {
		h := p.hosts[name]
		if !h.fresh {
			continue
		}
		h.fresh = false
		switch {
		case !h.nova.Up && !h.done:
			h.done = true
			p.move(now, name, h, decision.Failed, "nova-says-down", "nova service-list: nova-compute down")
			if len(h.nova.Instances) > 0 {
				p.out.Actions = append(p.out.Actions, decision.Action{Kind: decision.ActEvacuate, Host: name,
					Instances: h.nova.Instances, Rule: "nova-says-down", Reason: "nova says the service is down: evacuate everything"})
			}
		case h.nova.Up && h.done:
			h.done = false
			p.move(now, name, h, decision.Healthy, "nova-says-up", "nova service-list: nova-compute up")
		}
	}
	r := p.out
	p.out = decision.Ready{}
	return r
}

func (p *Policy) move(now time.Time, name string, h *host, to decision.State, rule, ev string) {
	p.out.Transitions = append(p.out.Transitions, decision.Transition{At: now, Host: name, From: h.state, To: to, Rule: rule, Evidence: []string{ev}})
	h.state, h.since = to, now
}

// Restore does nothing: the naive script keeps no records.
func (p *Policy) Restore([]decision.Record) {}

// RestoreSnapshot: the naive rule keeps no records either.
func (p *Policy) RestoreSnapshot([]decision.Record, uint64) {}

// Status lists every host's state.
func (p *Policy) Status() []decision.HostStatus {
	out := make([]decision.HostStatus, 0, len(p.order))
	for _, name := range p.order {
		h := p.hosts[name]
		out = append(out, decision.HostStatus{Name: name, State: h.state, Since: h.since})
	}
	return out
}

// Grant always grants: the seed's script knew nothing of watchdogs, so its
// world is given agents that never self-fence for want of a grant.
func (p *Policy) Grant(_ time.Time, r decision.AgentReport) (decision.Grant, error) {
	return decision.Grant{Host: r.Host, BootID: r.Self.BootID, Guests: true}, nil
}
