package executor

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// Nova carries out the engine's Nova actions and returns their results
// (nova.Executor.Do).
type Nova interface {
	Do(ctx context.Context, a decision.Action) []decision.Input
}

// Dispatch is the controller's executor (controller.Executor): it carries
// out every kind of action the engine sends, fences through the hosts'
// topologies, Nova's through Nova, alerts to Alert, and hands each result
// back to Report (Runner.Submit).
//
// Each host has two lanes, each in the order the actions were sent, and
// different hosts' run at the same time:
//   - the devices' lane: fence, unfence, renew-fence. An unfence must not
//     overtake the fence sent after it, nor a renewal the unfence.
//   - Nova's lane: force-down, evacuate, re-enable, restart. Each waits for
//     the device actions of its host sent before it (a re-enable must not
//     overtake the unfence before it; an evacuation comes after its fence
//     anyway: the engine sends it on the fence's result).
//
// A fence never waits for Nova (a hung Nova call lasts minutes with its
// retries; the host may be writing meanwhile), and an alert goes out at
// once.
//
// A cancel-fence does not queue: it drops the host's fences still waiting
// their turn (reported aborted, cancelled); a fence already under way keeps
// its own result (the power-off may have gone out).
//
// In Shadow mode nothing touches the world: each action is logged as what
// would be done, alerts still go out, and no result is reported (the
// incident waits where a real fence would have answered, holding its fence
// slot: with max_concurrent_fences failures at once, the next are held).
type Dispatch struct {
	Topos Topologies
	// Nova carries out force-down, evacuate, re-enable and restart. Nil:
	// those actions are logged as not carried out and alerted.
	Nova Nova
	// Target is what a fence of host verifies beyond its address: the
	// host's instances from Nova, its boot id from its agent. Nil: none.
	Target func(ctx context.Context, host string) fence.Target
	// BootID is the host's boot id now, as its agent reports it: the
	// evidence an unfence of a storage fence needs. Nil: unknown.
	BootID func(host string) string
	Report func(decision.Input)
	Alert  func(decision.Action)
	Shadow bool
	Log    *slog.Logger

	mu    sync.Mutex
	hosts map[string]*lanes
	wg    sync.WaitGroup
}

// lanes are one host's queues; the first job of a busy lane runs.
type lanes struct {
	dev, nova         []job
	devBusy, novaBusy bool
	seq               uint64     // device jobs sent so far
	changed           *sync.Cond // on Dispatch.mu: a device job finished or was dropped
}

type job struct {
	ctx context.Context
	a   decision.Action
	seq uint64 // a device job's number; a Nova job's: the device jobs sent before it
}

// devAction reports whether a runs in the devices' lane.
func devAction(k decision.ActionKind) bool {
	switch k {
	case decision.ActFence, decision.ActUnfence, decision.ActRenewFence:
		return true
	}
	return false
}

// Execute queues a behind the host's earlier actions of its lane and
// returns; an alert goes out at once.
func (d *Dispatch) Execute(ctx context.Context, a decision.Action) {
	if a.Kind == decision.ActAlert {
		d.run(ctx, a)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hosts == nil {
		d.hosts = map[string]*lanes{}
	}
	l := d.hosts[a.Host]
	if l == nil {
		l = &lanes{}
		l.changed = sync.NewCond(&d.mu)
		d.hosts[a.Host] = l
	}
	switch {
	case a.Kind == decision.ActCancelFence:
		d.cancel(a.Host, l)
	case devAction(a.Kind):
		l.seq++
		l.dev = append(l.dev, job{ctx: ctx, a: a, seq: l.seq})
		if !l.devBusy {
			l.devBusy = true
			d.wg.Add(1)
			go d.work(a.Host, l, true)
		}
	default:
		l.nova = append(l.nova, job{ctx: ctx, a: a, seq: l.seq})
		if !l.novaBusy {
			l.novaBusy = true
			d.wg.Add(1)
			go d.work(a.Host, l, false)
		}
	}
}

// cancel drops the host's queued fences (a running one, dev[0] of a busy
// lane, stands). Called with mu held.
func (d *Dispatch) cancel(host string, l *lanes) {
	from := 0
	if l.devBusy {
		from = 1
	}
	kept := slices.Clone(l.dev[:min(from, len(l.dev))])
	var dropped []job
	for _, j := range l.dev[min(from, len(l.dev)):] {
		if j.a.Kind != decision.ActFence {
			kept = append(kept, j)
			continue
		}
		dropped = append(dropped, j)
		d.log().Info("fence cancelled before it started", "host", host, "level", j.a.Level)
	}
	if len(dropped) == 0 {
		d.log().Info("cancel-fence: no fence of the host waits its turn; one under way keeps its own result", "host", host)
	}
	l.dev = kept
	l.changed.Broadcast()
	if len(dropped) == 0 {
		return
	}
	// Reported from a goroutine of their own, as every other result is:
	// Execute runs on the runner's goroutine, and Report (Runner.Submit)
	// blocks while the runner's queue is full, which only that goroutine
	// drains; reporting here, under mu besides, would stop the leader.
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for _, j := range dropped {
			d.reportIn(j.ctx, decision.FenceResult{Host: host, Level: j.a.Level, Aborted: decision.AbortCancelled,
				Err: "cancelled before it started: the host showed life after the decision"})
		}
	}()
}

// Wait blocks until every queued action is done.
func (d *Dispatch) Wait() { d.wg.Wait() }

// work runs one lane of host until it is empty.
func (d *Dispatch) work(host string, l *lanes, dev bool) {
	defer d.wg.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		q := &l.nova
		if dev {
			q = &l.dev
		}
		if len(*q) == 0 {
			if dev {
				l.devBusy = false
			} else {
				l.novaBusy = false
			}
			if !l.devBusy && !l.novaBusy && len(l.dev) == 0 && len(l.nova) == 0 {
				delete(d.hosts, host)
			}
			return
		}
		j := (*q)[0]
		if !dev {
			// The device actions sent before it come first.
			for len(l.dev) > 0 && l.dev[0].seq <= j.seq {
				l.changed.Wait()
			}
		}
		d.mu.Unlock()
		d.run(j.ctx, j.a)
		d.mu.Lock()
		*q = (*q)[1:]
		if dev {
			l.changed.Broadcast()
		}
	}
}

func (d *Dispatch) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

func (d *Dispatch) report(in decision.Input) {
	if d.Report != nil {
		d.Report(in)
	}
}

// reportIn reports a result of an action of the term whose context is
// ctx, unless that term has ended: a result is its term's, and the same
// member leading again must not take it for one of its new term's actions
// (a FenceResult carries no term).
func (d *Dispatch) reportIn(ctx context.Context, in decision.Input) {
	if ctx.Err() != nil {
		d.log().Warn("result not reported: the term of its action ended", "err", ctx.Err())
		return
	}
	d.report(in)
}

func (d *Dispatch) run(ctx context.Context, a decision.Action) {
	log := d.log().With("host", a.Host, "action", a.String(), "rule", a.Rule)
	if a.Kind == decision.ActAlert {
		log.Warn("alert", "code", a.Code, "reason", a.Reason)
		if d.Alert != nil {
			d.Alert(a)
		}
		return
	}
	if d.Shadow {
		log.Info("shadow: would "+string(a.Kind), "reason", a.Reason)
		return
	}
	if ctx.Err() != nil {
		// The term ended (the lease may be gone): a successor sends it
		// again from the journal if it is still due.
		log.Warn("not carried out: this controller's term ended", "err", ctx.Err())
		return
	}
	switch a.Kind {
	case decision.ActFence:
		var tgt fence.Target
		if d.Target != nil {
			tgt = d.Target(ctx, a.Host)
		}
		res, _ := FenceTarget(ctx, d.Topos, a, tgt, func(s fence.Step) {
			log.Info("fence step", "level", s.Level, "member", s.Member, "op", s.Op, "took", s.Took, "detail", s.Detail, "err", s.Err)
		})
		log.Info("fence done", "ok", res.OK, "method", res.Method, "proof", res.Proof, "aborted", res.Aborted.String(), "err", res.Err)
		d.reportIn(ctx, res)
	case decision.ActUnfence:
		rel := fence.Release{}
		if d.BootID != nil {
			rel.BootID = d.BootID(a.Host)
		}
		res := UnfenceAction(ctx, d.Topos, a, rel, func(s fence.Step) {
			log.Info("unfence step", "level", s.Level, "member", s.Member, "op", s.Op, "detail", s.Detail, "err", s.Err)
		})
		log.Info("unfence done", "ok", res.OK, "err", res.Err)
		d.reportIn(ctx, res)
	case decision.ActRenewFence:
		res := RenewAction(ctx, d.Topos, a)
		log.Info("fence renewal done", "ok", res.OK, "lapsed", res.Lapsed, "err", res.Err)
		d.reportIn(ctx, res)
	case decision.ActForceDown, decision.ActEvacuate, decision.ActReEnable, decision.ActRestart:
		if d.Nova == nil {
			log.Error("not carried out: this controller has no Nova client")
			if d.Alert != nil {
				d.Alert(decision.Action{Kind: decision.ActAlert, Host: a.Host, Code: "no-nova", Rule: a.Rule,
					Reason: a.String() + " not carried out: the controller has no Nova client (nova: in its configuration)"})
			}
			if a.Kind == decision.ActEvacuate {
				for _, id := range a.Instances {
					d.reportIn(ctx, decision.EvacuateResult{Host: a.Host, Instance: id, Err: "no Nova client"})
				}
			}
			return
		}
		for _, in := range d.Nova.Do(ctx, a) {
			d.reportIn(ctx, in)
		}
	default:
		log.Error("not carried out: unknown action kind")
	}
}

// Check is the fence re-read the Nova executor makes right before each
// evacuate call (nova.FenceCheck, adapted by the caller): the status of the
// devices of the host's topology level that fenced it, found by its method
// (the "+"-joined methods of the level's members, as FenceTarget reports
// them). A level's fence holds only when every one of its members reads its
// part in place, as every member had to fence and verify: with two power
// feeds, one feed on runs the host (PowerWatch reads the level on), and the
// engine takes a power fence's BMC reading on for the fence undone whatever
// else the level holds. Any member reading on lifts it; one not answering
// (a BMC or the Ceph monitors) proves nothing either way. A member with no
// status to read (kdump: the dump it waited for is over) is left out. An
// operator's confirmation, a watchdog reset and a reboot have no device to
// read: the engine judged those (decision.JudgedFence).
func Check(ctx context.Context, topos Topologies, host, used string) (held, lifted bool, why string) {
	if decision.JudgedFence(used) {
		return true, false, "judged by the engine: " + used
	}
	topo, err := topos.Topology(host)
	if err != nil {
		return false, false, "fence unreadable: " + err.Error()
	}
	want := methodSet(strings.Split(used, "+"))
	var on, unread []string
	matched := false
	for _, level := range topo.Levels {
		var ms []string
		for _, m := range level {
			ms = append(ms, method(m))
		}
		if methodSet(ms) != want {
			continue
		}
		matched = true
		var placed []string
		levelOn, levelUnread := len(on), len(unread)
		for _, m := range level {
			st, err := m.ReadStatus(ctx)
			switch {
			case err == nil && st == fence.StatusOff:
				placed = append(placed, m.Name)
			case err == nil && st == fence.StatusOn:
				on = append(on, m.Name+" reads on")
			case err == nil:
				// Nothing to read (kdump): the level's other members say.
			default:
				unread = append(unread, m.Name+": "+err.Error())
			}
		}
		if len(on) == levelOn && len(unread) == levelUnread && len(placed) > 0 {
			return true, false, strings.Join(placed, ", ") + " read the fence in place"
		}
	}
	switch {
	case !matched:
		return false, false, "fence unreadable: no device of the topology is " + used + " (no level of it fences by that method)"
	case len(unread) > 0:
		return false, false, "fence unreadable: " + strings.Join(append(unread, on...), "; ")
	case len(on) == 0:
		return false, false, "fence unreadable: no device of the " + used + " level has a status to read"
	}
	return false, true, "fence no longer holds: " + strings.Join(on, "; ")
}

// methodSet is a level's methods, sorted and without repeats, "+"-joined:
// what two method strings must share to name the same kind of level.
func methodSet(ms []string) string {
	ms = slices.Clone(ms)
	slices.Sort(ms)
	return strings.Join(slices.Compact(ms), "+")
}
