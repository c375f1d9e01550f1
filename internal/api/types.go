package api

import (
	"context"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Backend is what the API needs of a controller: the leader's view of the
// hosts, their recent history, and a way to hand it an operator's command.
// The controller daemon implements it over its Runner.
type Backend interface {
	// Status is every host's state, sorted by name; it returns
	// controller.ErrNotLeading (wrapped or not) on a member that does not
	// lead.
	Status(ctx context.Context) ([]decision.HostStatus, error)
	// Events returns the last n events of host, newest last; host "" means
	// every host.
	Events(host string, n int) []Event
	// Submit hands the engine an operator's command. ev is the operator
	// event that records it (Kind "operator", with who and why): add it to
	// the history once in is submitted. controller.ErrNotLeading when
	// this member does not lead.
	Submit(ctx context.Context, in decision.Input, ev Event) error
	// Leader says who this member is and whether it leads now.
	Leader() Leader
	// Plan is what the leader's engine would do if host failed now
	// (decision.Engine.Plan), its fence levels named from the
	// configuration; it changes nothing. controller.ErrNotLeading on a
	// member that does not lead, decision.ErrUnknownHost (wrapped or not)
	// for a host not in the configuration.
	Plan(ctx context.Context, host string) (decision.Plan, error)
}

// Leader is a member's view of the election.
type Leader struct {
	Self    string
	Leading bool
}

// Event kinds.
const (
	KindTransition = "transition" // a host changed state (decision.Transition)
	KindAction     = "action"     // the engine decided an action (decision.Action)
	KindResult     = "result"     // an executor reported an action's result
	KindOperator   = "operator"   // an operator's command through this API
)

// Event is one entry of a host's history.
type Event struct {
	At       time.Time `json:"at"`
	Host     string    `json:"host"`
	Kind     string    `json:"kind"`
	From     string    `json:"from,omitempty"`
	To       string    `json:"to,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
	Action   string    `json:"action,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	By       string    `json:"by,omitempty"`
}

// HostStatus is decision.HostStatus as the API shows it.
type HostStatus struct {
	Name   string          `json:"name"`
	State  decision.State  `json:"state"`
	Since  time.Time       `json:"since,omitzero"`
	Rule   string          `json:"rule"`
	Held   bool            `json:"held"`
	Reason string          `json:"reason,omitempty"`
	Fence  *decision.Fence `json:"fence,omitempty"`
	Domain string          `json:"domain,omitempty"`
	// LeftToOperator are instances vigil hands to an operator
	// (decision.HostStatus.LeftToOperator).
	LeftToOperator []string `json:"left_to_operator,omitempty"`
	// Unfence says why the host's last unfence failed; vigil retries it.
	Unfence string `json:"unfence,omitempty"`
	// Seen is what the leader last heard of the host (decision.Seen).
	Seen Seen `json:"seen"`
	// Quiet: its agent has missed a report on every network; the
	// controllers read its power (decision.HostStatus.Quiet).
	Quiet bool `json:"quiet,omitempty"`
}

// Seen is decision.Seen as the API shows it: times, the zero ones left out.
type Seen struct {
	At           time.Time     `json:"at,omitzero"`
	Networks     []NetworkSeen `json:"networks,omitempty"`
	StorageMoved time.Time     `json:"storage_moved,omitzero"`
	BMC          string        `json:"bmc,omitempty"` // on, off, unreachable; left out when never read
	BMCAt        time.Time     `json:"bmc_at,omitzero"`
	NovaUp       bool          `json:"nova_up"`
	NovaAt       time.Time     `json:"nova_at,omitzero"`
}

// NetworkSeen is decision.NetworkSeen: when the host's agent was last
// heard on the network, and when a peer last reached it there.
type NetworkSeen struct {
	Name  string    `json:"name"`
	Agent time.Time `json:"agent,omitzero"`
	Peer  time.Time `json:"peer,omitzero"`
}

// FromDecision converts the engine's view of a host.
func FromDecision(s decision.HostStatus) HostStatus {
	seen := Seen{At: s.Seen.At, StorageMoved: s.Seen.StorageMoved, BMCAt: s.Seen.BMCAt, NovaUp: s.Seen.NovaUp, NovaAt: s.Seen.NovaAt}
	if s.Seen.BMC != decision.PowerUnknown {
		seen.BMC = s.Seen.BMC.String()
	}
	for _, n := range s.Seen.Networks {
		seen.Networks = append(seen.Networks, NetworkSeen(n))
	}
	return HostStatus{Name: s.Name, State: s.State, Since: s.Since, Rule: s.Rule, Held: s.Held, Reason: s.Reason,
		Fence: s.Fence, Domain: s.Domain, LeftToOperator: s.LeftToOperator, Unfence: s.Unfence, Seen: seen, Quiet: s.Quiet}
}

// Health is GET /healthz.
type Health struct {
	OK      bool   `json:"ok"`
	Leading bool   `json:"leading"`
	Self    string `json:"self"`
}

// Status is GET /v1/status. At is the controller's clock when it answered:
// ages are reckoned from it, not from the reader's clock.
type Status struct {
	At    time.Time    `json:"at"`
	Self  string       `json:"self"`
	Hosts []HostStatus `json:"hosts"`
}

// HostDetail is GET /v1/hosts/{host}: what vigil explain prints.
type HostDetail struct {
	At     time.Time  `json:"at"`
	Self   string     `json:"self"`
	Host   HostStatus `json:"host"`
	Events []Event    `json:"events"` // the last HostEvents, newest last
}

// History is GET /v1/history.
type History struct {
	At     time.Time `json:"at"`
	Self   string    `json:"self"`
	Events []Event   `json:"events"` // newest last
}

// Plan is GET /v1/hosts/{host}/plan: decision.Plan as the API shows it,
// what vigil plan prints. At is the controller's clock the plan was made
// at. Fence, Instances and Avoid are [] when empty, never null.
type Plan struct {
	At       time.Time      `json:"at"`
	Self     string         `json:"self"`
	Host     string         `json:"host"`
	State    decision.State `json:"state"`
	Rule     string         `json:"rule"`
	WouldAct bool           `json:"would_act"`
	// Hold names what stops vigil (decision.Plan.Hold), Reason says why
	// and what ends it; both left out when it would act.
	Hold       string            `json:"hold,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Fence      []PlannedLevel    `json:"fence"`
	Instances  []PlannedInstance `json:"instances"`
	NovaUnread bool              `json:"nova_unread,omitempty"`
	Avoid      []AvoidedHost     `json:"avoid"`
	Notes      []string          `json:"notes,omitempty"`
	Evidence   []string          `json:"evidence,omitempty"`
}

// PlannedLevel is decision.PlannedLevel: one fence level, in order.
type PlannedLevel struct {
	Level   int      `json:"level"`
	Method  string   `json:"method,omitempty"`
	Devices []string `json:"devices,omitempty"`
}

// PlannedInstance is decision.PlannedInstance: what vigil would do with one
// instance (action: evacuate, left-to-operator, moved, moving).
type PlannedInstance struct {
	ID      string   `json:"id"`
	Action  string   `json:"action"`
	Stopped bool     `json:"stopped,omitempty"`
	CopyOn  []string `json:"copy_on,omitempty"`
	Reason  string   `json:"reason,omitempty"`
}

// AvoidedHost is decision.AvoidedHost: a host evacuations would not land
// on, and its state.
type AvoidedHost struct {
	Host  string         `json:"host"`
	State decision.State `json:"state"`
}

// FromPlan converts the engine's plan, as answered by member self.
func FromPlan(p decision.Plan, self string) Plan {
	out := Plan{At: p.At, Self: self, Host: p.Host, State: p.State, Rule: p.Rule, WouldAct: p.WouldAct, Hold: p.Hold, Reason: p.Reason,
		Fence: make([]PlannedLevel, len(p.Fence)), Instances: make([]PlannedInstance, len(p.Instances)), NovaUnread: p.NovaUnread,
		Avoid: make([]AvoidedHost, len(p.Avoid)), Notes: p.Notes, Evidence: p.Evidence}
	for i, l := range p.Fence {
		out.Fence[i] = PlannedLevel(l)
	}
	for i, in := range p.Instances {
		out.Instances[i] = PlannedInstance(in)
	}
	for i, a := range p.Avoid {
		out.Avoid[i] = AvoidedHost(a)
	}
	return out
}

// MaintenanceRequest is the body of POST /v1/hosts/{host}/maintenance.
type MaintenanceRequest struct {
	On     bool   `json:"on"`
	Reason string `json:"reason,omitempty"` // required when On
}

// ConfirmRequest is the body of POST /v1/hosts/{host}/confirm: the operator
// vouches that the host is off and its guests stopped.
type ConfirmRequest struct {
	By     string `json:"by,omitempty"` // default: the token's name, else "operator"
	Reason string `json:"reason"`
}

// RejoinRequest is the body of POST /v1/hosts/{host}/rejoin: the operator
// lets a rejoining host back into service (the rejoin policy manual). The
// engine takes it only while the host is clean.
type RejoinRequest struct {
	By     string `json:"by,omitempty"` // default: the token's name, else "operator"
	Reason string `json:"reason"`
}

// ReleaseRequest is the optional body of POST /v1/hosts/{host}/release.
type ReleaseRequest struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Accepted answers an operator's command: the engine has it, and applies it
// at its next tick (a confirm it may still refuse: vigil explain shows).
type Accepted struct {
	Host string `json:"host"`
	Call string `json:"call"`
	By   string `json:"by"`
	Note string `json:"note"`
}

// ErrorBody is every error's body.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Error codes (ErrorBody.Code), stable for scripts.
const (
	CodeUnauthorized = "unauthorized"       // 401: no token, or one the controller does not know
	CodeForbidden    = "forbidden"          // 403: a reader's token on an operator's call
	CodeBadRequest   = "bad-request"        // 400: the body or a parameter is wrong; the message names it
	CodeTooLarge     = "too-large"          // 413: the body is over MaxBody
	CodeUnknownHost  = "unknown-host"       // 404: no such host in the controller's configuration
	CodeNotFound     = "not-found"          // 404: no such endpoint
	CodeMethod       = "method-not-allowed" // 405
	CodeNotLeading   = "not-leading"        // 503: this controller does not lead: ask another one
	CodeUnavailable  = "unavailable"        // 503: the controller's loop did not answer in time
	CodeInternal     = "internal"           // 500
)

// MaxBody caps a request body.
const MaxBody = 64 << 10

// HostEvents is how many events GET /v1/hosts/{host} returns.
const HostEvents = 50
