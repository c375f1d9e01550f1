package nova

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// FenceState is what a re-read of a host's fence found.
type FenceState int

const (
	FenceHeld       FenceState = iota // the fence still holds: the evacuation may go
	FenceLifted                       // it no longer holds: the host may write again
	FenceUnreadable                   // it could not be read: proves nothing either way
)

// FenceCheck re-reads the fence of host (fenced by method, the action's
// FenceMethod) right before each evacuate request, and says what it found
// and, for the journal, how.
type FenceCheck func(ctx context.Context, host, method string) (FenceState, string)

// ExecConfig tunes the executor. Zero fields take DefaultExecConfig's values.
type ExecConfig struct {
	// Concurrency is how many instances are evacuated (or restarted) at
	// once, over all hosts.
	Concurrency int
	// EvacuateTimeout bounds one instance's evacuation: from the first
	// read to ACTIVE (or SHUTOFF) on another host, re-stop included.
	EvacuateTimeout time.Duration
	// Poll is how often a moving server is read.
	Poll time.Duration
	// Settle is how long an accepted evacuation's server must show no
	// task while still on the failed host before vigil reports it not
	// moved: Nova clears the task a moment before it writes the new host.
	Settle time.Duration
}

// DefaultExecConfig: 8 at once (Masakari runs 3), 5 minutes per instance
// (a real rebuild with an image download can take minutes; the fake
// driver's takes 1-3 s), polled every second, settled after 10 s.
func DefaultExecConfig() ExecConfig {
	return ExecConfig{Concurrency: 8, EvacuateTimeout: 5 * time.Minute, Poll: time.Second, Settle: 10 * time.Second}
}

func (c ExecConfig) withDefaults() ExecConfig {
	d := DefaultExecConfig()
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.EvacuateTimeout <= 0 {
		c.EvacuateTimeout = d.EvacuateTimeout
	}
	if c.Poll <= 0 {
		c.Poll = d.Poll
	}
	if c.Settle <= 0 {
		c.Settle = d.Settle
	}
	return c
}

// Executor carries out the engine's Nova actions: ActForceDown,
// ActEvacuate, ActReEnable and ActRestart. Execute returns at once; each
// host's actions run one after another in the order given, different
// hosts' at the same time, and evacuation results go to the report func as
// each instance finishes.
type Executor struct {
	nova   *Client
	fence  FenceCheck
	report func(decision.Input)
	cfg    ExecConfig
	log    *slog.Logger
	slots  chan struct{} // one per instance in flight
	turn   atomic.Uint64 // named targets handed out so far

	// mu guards queues: the actions waiting per host, its first one
	// running; a host with a queue has a goroutine working it.
	mu     sync.Mutex
	queues map[string][]job
	wg     sync.WaitGroup
}

type job struct {
	ctx context.Context
	a   decision.Action
}

// NewExecutor returns an executor over nova. fence is required: no
// evacuation goes out without a re-read of the fence. report receives the
// results (Runner.Submit).
func NewExecutor(nova *Client, fence FenceCheck, report func(decision.Input), cfg ExecConfig, log *slog.Logger) (*Executor, error) {
	if nova == nil || fence == nil || report == nil {
		return nil, errors.New("nova: an executor needs a client, a fence check and a report func")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &Executor{nova: nova, fence: fence, report: report, cfg: cfg, log: log,
		slots: make(chan struct{}, cfg.Concurrency), queues: map[string][]job{}}, nil
}

// Execute queues a behind the host's earlier actions and returns. Work
// stops when ctx ends (the leader's term).
func (e *Executor) Execute(ctx context.Context, a decision.Action) {
	if !Handles(a.Kind) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q, busy := e.queues[a.Host]
	e.queues[a.Host] = append(q, job{ctx: ctx, a: a})
	if busy {
		return
	}
	e.wg.Add(1)
	go e.work(a.Host)
}

// Wait blocks until every queued action is done.
func (e *Executor) Wait() { e.wg.Wait() }

// work runs host's queue until it is empty.
func (e *Executor) work(host string) {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		q := e.queues[host]
		if len(q) == 0 {
			delete(e.queues, host)
			e.mu.Unlock()
			return
		}
		j := q[0]
		e.mu.Unlock()
		e.run(j.ctx, j.a, e.report)
		e.mu.Lock()
		e.queues[host] = e.queues[host][1:]
		e.mu.Unlock()
	}
}

// Handles reports whether the executor carries out actions of kind k.
func Handles(k decision.ActionKind) bool {
	switch k {
	case decision.ActForceDown, decision.ActReEnable, decision.ActEvacuate, decision.ActRestart:
		return true
	}
	return false
}

// Do carries out a at once and returns its results (an evacuation's
// EvacuateResults, in the action's instance order), for callers that wait.
func (e *Executor) Do(ctx context.Context, a decision.Action) []decision.Input {
	var mu sync.Mutex
	var got []decision.Input
	e.run(ctx, a, func(in decision.Input) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, in)
	})
	if a.Kind == decision.ActEvacuate {
		slices.SortStableFunc(got, func(x, y decision.Input) int {
			return slices.Index(a.Instances, x.(decision.EvacuateResult).Instance) - slices.Index(a.Instances, y.(decision.EvacuateResult).Instance)
		})
	}
	return got
}

func (e *Executor) run(ctx context.Context, a decision.Action, report func(decision.Input)) {
	log := e.log.With("host", a.Host, "action", string(a.Kind), "rule", a.Rule)
	var err error
	switch a.Kind {
	case decision.ActForceDown:
		err = e.nova.ForceDown(ctx, a.Host, disableReason(a))
	case decision.ActReEnable:
		err = e.nova.ReEnable(ctx, a.Host)
	case decision.ActRestart:
		err = e.restart(ctx, a, log)
	case decision.ActEvacuate:
		e.evacuateAll(ctx, a, report, log)
		return
	default:
		return
	}
	if err != nil {
		log.Error("nova action failed", "err", err)
		return
	}
	log.Info("nova action done")
}

// disableReason names vigil and the incident in the service's
// disabled_reason, for an operator reading `openstack compute service list --long`.
func disableReason(a decision.Action) string {
	r := fmt.Sprintf("vigil incident on %s (%s)", a.Host, a.Rule)
	if a.Reason != "" {
		r += ": " + a.Reason
	}
	return r
}

// restart hard-reboots each instance Nova still places on the action's
// host with no task in flight; others are left alone.
func (e *Executor) restart(ctx context.Context, a decision.Action, log *slog.Logger) error {
	var errs []error
	for _, id := range a.Instances {
		e.slots <- struct{}{}
		s, err := e.nova.Server(ctx, id)
		if err == nil && (s.Host != a.Host || s.TaskState != "") {
			log.Warn("not restarting: Nova places it elsewhere or has a task in flight", "instance", id, "placed", s.Host, "task_state", s.TaskState)
		} else if err == nil {
			err = e.nova.HardReboot(ctx, id)
		}
		<-e.slots
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// evacuateAll evacuates the action's instances, Concurrency at a time over
// the whole executor, reporting each result as it comes. With Avoid set,
// vigil names the target itself, in turn over the up, enabled hosts outside
// Avoid (Nova's scheduler filters still check the named host: a full one
// refuses, and the retry goes to the next); otherwise Nova's scheduler
// chooses.
func (e *Executor) evacuateAll(ctx context.Context, a decision.Action, report func(decision.Input), log *slog.Logger) {
	targets, err := e.targets(ctx, a)
	// Successive evacuations start where the last one left off, so a
	// retry of one instance tries the next host, not the same full one.
	start := int(e.turn.Add(uint64(len(a.Instances)))) - len(a.Instances)
	var wg sync.WaitGroup
	for i, id := range a.Instances {
		if err != nil {
			report(decision.EvacuateResult{Host: a.Host, Instance: id, Err: err.Error()})
			continue
		}
		target := ""
		if len(targets) > 0 {
			target = targets[(start+i)%len(targets)]
		}
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			report(decision.EvacuateResult{Host: a.Host, Instance: id, Err: "nova: " + ctx.Err().Error()})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-e.slots }()
			r := e.evacuate(ctx, a, id, target, slices.Contains(a.Stopped, id), log.With("instance", id, "target", target))
			report(r)
		}()
	}
	wg.Wait()
}

// targets are the hosts to name when a.Avoid is set: nova-compute up,
// enabled, not forced down, neither the failed host nor one to avoid.
// None: ErrNoTarget. Avoid empty: nil (the scheduler chooses).
func (e *Executor) targets(ctx context.Context, a decision.Action) ([]string, error) {
	if len(a.Avoid) == 0 {
		return nil, nil
	}
	svcs, err := e.nova.services(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range svcs {
		if s.Up && !s.ForcedDown && !s.Disabled && s.Host != a.Host && !slices.Contains(a.Avoid, s.Host) {
			out = append(out, s.Host)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (avoiding %v)", ErrNoTarget, a.Avoid)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
