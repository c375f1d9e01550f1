package controller

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Leadership is the election a Runner campaigns in (journal.Journal).
type Leadership interface {
	// Campaign blocks until this member leads, and returns the term's
	// fencing token.
	Campaign(ctx context.Context, name string) (uint64, error)
	// Deadline is until when this member surely still leads: its lease
	// cannot have run out before then, however long the process was
	// stopped. The zero time when it does not lead.
	Deadline() time.Time
	Resign(ctx context.Context) error
}

// Executor carries out an action; its results come back as inputs
// (Runner.Submit). Its context is the term's: cancelled when the term ends,
// after which nothing of it is carried out or reported. Execute is called
// in Ready order; an executor that runs
// actions concurrently must still run each host's actions one after
// another, in that order: a Ready may hold a host's unfence (lifting what
// an ended incident's fences added since it opened) and a new incident's
// fence of the same host, and the unfence must not overtake the fence.
type Executor interface {
	Execute(ctx context.Context, a decision.Action)
}

// Runner drives a Loop in real time as one member of the controllers:
// campaign, lead from the journal, tick, act; and stop acting the moment
// its lease may have run out, before a successor can have started (a
// leader stalled past its lease, by SIGSTOP or a paused VM, finds its
// deadline gone when it resumes and acts no more, grants no more).
type Runner struct {
	Name   string
	Loop   *Loop
	Lead   Leadership
	Exec   Executor
	Ack    func(decision.Ack) // sends a clean stop's acknowledgement to its agent
	Log    *slog.Logger
	Every  time.Duration // tick period; default 250ms
	Margin time.Duration // stop acting this long before the deadline; default 500ms

	// AfterWrite, if set, runs between writing a Ready and acting on it:
	// tests stop the process there, where a stop hurts most.
	AfterWrite func()
	// OnReady, if set, sees every Ready once its write was tried, before
	// any of it is carried out: the operators' event log and metrics. It
	// runs on the loop's goroutine and must not block.
	OnReady func(decision.Ready)
	// TickDone, if set, gets each tick's duration in seconds, the journal
	// write included (a metric).
	TickDone func(seconds float64)

	reqs chan request
	// leading is set while the member runs its lead loop (Leading).
	leading atomic.Bool
}

type request struct {
	in     decision.Input
	done   chan error                 // for Do: the step's outcome
	reply  chan reply                 // for an AgentReport: its grant
	status chan []decision.HostStatus // Status: the engine's view (nil: not leading)
	plan   *planRequest               // Plan: what the engine would do
}

// planRequest asks the engine for the plan of one host.
type planRequest struct {
	host  string
	reply chan planReply
}

type planReply struct {
	p   decision.Plan
	err error
}

// refuse answers a request this member cannot serve: it does not lead.
func (q request) refuse() {
	if q.reply != nil {
		q.reply <- reply{err: ErrNotLeading}
	}
	if q.status != nil {
		q.status <- nil
	}
	if q.plan != nil {
		q.plan.reply <- planReply{err: ErrNotLeading}
	}
	if q.done != nil {
		q.done <- ErrNotLeading
	}
}

type reply struct {
	g   decision.Grant
	err error
}

// NewRunner returns a runner; Run starts it.
func NewRunner(name string, l *Loop, lead Leadership, exec Executor, ack func(decision.Ack), log *slog.Logger) *Runner {
	return &Runner{Name: name, Loop: l, Lead: lead, Exec: exec, Ack: ack, Log: log,
		Every: 250 * time.Millisecond, Margin: 500 * time.Millisecond, reqs: make(chan request, 1024)}
}

// Submit hands the loop an input (a collector's observation, an executor's
// result, an operator's command). It is dropped when the runner does not
// lead.
func (r *Runner) Submit(in decision.Input) { r.reqs <- request{in: in} }

// Do steps an input and says whether it was stepped: ErrNotLeading when
// this member does not lead, or the loop's error (an operator's setting
// that could not be written to the store is not in force).
func (r *Runner) Do(ctx context.Context, in decision.Input) error {
	c := make(chan error, 1)
	select {
	case r.reqs <- request{in: in, done: c}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Report steps an agent's report and returns its grant; ErrNotLeading when
// this member does not lead (or its lease may have run out).
func (r *Runner) Report(ctx context.Context, rep decision.AgentReport) (decision.Grant, error) {
	c := make(chan reply, 1)
	select {
	case r.reqs <- request{in: rep, reply: c}:
	case <-ctx.Done():
		return decision.Grant{}, ctx.Err()
	}
	select {
	case x := <-c:
		return x.g, x.err
	case <-ctx.Done():
		return decision.Grant{}, ctx.Err()
	}
}

// Status is the leader's view of every host, read on the loop's own
// goroutine (the engine is not safe for concurrent use); ErrNotLeading on a
// member that does not lead.
func (r *Runner) Status(ctx context.Context) ([]decision.HostStatus, error) {
	c := make(chan []decision.HostStatus, 1)
	select {
	case r.reqs <- request{status: c}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case st := <-c:
		if st == nil {
			return nil, ErrNotLeading
		}
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Plan is what the leader's engine would do if host failed now (vigil
// plan), made on the loop's own goroutine like Status; it changes nothing.
// ErrNotLeading on a member that does not lead; the engine's error
// (decision.ErrUnknownHost) for a host it was not given.
func (r *Runner) Plan(ctx context.Context, host string) (decision.Plan, error) {
	c := make(chan planReply, 1)
	select {
	case r.reqs <- request{plan: &planRequest{host: host, reply: c}}:
	case <-ctx.Done():
		return decision.Plan{}, ctx.Err()
	}
	select {
	case x := <-c:
		return x.p, x.err
	case <-ctx.Done():
		return decision.Plan{}, ctx.Err()
	}
}

// Leading reports whether this member is in its term's loop: advisory, for
// a transport choosing whether to answer at all (a follower sends no Retry).
// It may lag a lease that has just run out; Report and Submit are guarded by
// the lease themselves. Safe for concurrent use.
func (r *Runner) Leading() bool { return r.leading.Load() }

// campaign campaigns, refusing what is submitted meanwhile: a member that
// does not lead must not hold its callers (a transport's receive loop) for
// the length of an election.
func (r *Runner) campaign(ctx context.Context) (uint64, error) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case q := <-r.reqs:
				q.refuse()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	return r.Lead.Campaign(ctx, r.Name)
}

// Run campaigns and leads until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		token, err := r.campaign(ctx)
		if err != nil {
			r.drain()
			if ctx.Err() == nil {
				r.Log.Warn("campaign failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if !r.leads() {
			// Elected on a lease that ran out meanwhile (etcd was
			// unreachable while the campaign waited): such a term must
			// not even begin.
			r.Log.Warn("elected on a lease already gone: campaigning again", "member", r.Name, "token", token)
			_ = r.Lead.Resign(context.Background())
			continue
		}
		if _, err := r.Loop.Lead(time.Now(), token); err != nil {
			r.Log.Error("elected but cannot read the journal: resigning", "err", err)
			_ = r.Lead.Resign(context.Background())
			continue
		}
		r.Log.Info("leading", "member", r.Name, "token", token)
		// What came while this member did not lead (results of a
		// predecessor's actions, observations of another time) is not
		// this term's: the new leader judges from its journal and fresh
		// evidence.
		r.drain()
		r.lead(ctx)
		r.drain()
		r.Loop.Depose()
		_ = r.Lead.Resign(context.Background())
		r.Log.Warn("stopped leading", "member", r.Name, "token", token)
	}
	return ctx.Err()
}

// leads reports whether this member may still act.
func (r *Runner) leads() bool {
	return time.Now().Before(r.Lead.Deadline().Add(-r.Margin))
}

// drain answers what waits while this member does not lead.
func (r *Runner) drain() {
	for {
		select {
		case q := <-r.reqs:
			q.refuse()
		default:
			return
		}
	}
}

func (r *Runner) lead(ctx context.Context) {
	r.leading.Store(true)
	defer r.leading.Store(false)
	// The term's context: what the executor was given in this term ends
	// with it (a queued action is not carried out, a result still under
	// way is not reported into a later term of this member).
	ctx, endTerm := context.WithCancel(ctx)
	defer endTerm()
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-r.reqs:
			if !r.leads() {
				q.refuse()
				return
			}
			if q.status != nil {
				q.status <- r.Loop.Status()
				continue
			}
			if q.plan != nil {
				p, err := r.Loop.Plan(time.Now(), q.plan.host)
				q.plan.reply <- planReply{p, err}
				continue
			}
			if rep, ok := q.in.(decision.AgentReport); ok && q.reply != nil {
				g, err := r.Loop.Report(time.Now(), rep)
				q.reply <- reply{g, err}
				continue
			}
			err := r.Loop.Step(time.Now(), q.in)
			if q.done != nil {
				q.done <- err
			}
		case <-t.C:
			if !r.leads() {
				return
			}
			began := time.Now()
			rd, err := r.Loop.Tick(began)
			if r.TickDone != nil {
				r.TickDone(time.Since(began).Seconds())
			}
			if err != nil {
				r.Log.Error("journal write failed: acting on its alerts only", "err", err)
			}
			if r.OnReady != nil && !rd.Empty() {
				r.OnReady(rd)
			}
			if r.AfterWrite != nil {
				r.AfterWrite()
			}
			for _, a := range rd.Acks {
				if !r.leads() {
					return
				}
				r.Ack(a)
			}
			for _, a := range rd.Actions {
				if !r.leads() {
					r.Log.Warn("lease may have run out: not carrying out the rest of the Ready", "action", a.String())
					return
				}
				r.Exec.Execute(ctx, a)
			}
		}
	}
}
