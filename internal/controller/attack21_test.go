package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/executor"
	"github.com/vigil-ha/vigil/internal/fence"
)

// attack21: Dispatch says "an ended term acts no more", and tests it with a
// cancelled context. But the Runner hands Execute the context of Run (the
// process's), not one of the term: when the lease runs out, what the term
// queued in Dispatch still runs. Here a fence of cmp1 waits behind cmp1's
// force-down, which a slow Nova holds; the lease runs out and the member
// stops leading; then Nova answers, and the ended term's fence powers cmp1
// off, while a successor may lead and have judged cmp1 otherwise.

// onceLead leads once, with a lease the test ends; later campaigns wait.
type onceLead struct {
	mu      sync.Mutex
	till    time.Time
	elected bool
	again   chan struct{} // closed: the next campaign wins too
	token   uint64
}

func (l *onceLead) Campaign(ctx context.Context, _ string) (uint64, error) {
	l.mu.Lock()
	if !l.elected {
		l.elected = true
		l.till = time.Now().Add(time.Hour)
		l.token = 9
		l.mu.Unlock()
		return 9, nil
	}
	again := l.again
	l.mu.Unlock()
	select {
	case <-again:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.till = time.Now().Add(time.Hour)
	l.token++
	return l.token, nil
}

func (l *onceLead) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.till
}

func (l *onceLead) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.till = time.Time{}
}

func (l *onceLead) Resign(context.Context) error { return nil }

// scripted is a Policy whose first Tick decides the given actions.
type scripted struct {
	acts []decision.Action
	done bool
	// stepped records every input with the term it was stepped in.
	mu      *sync.Mutex
	term    uint64
	stepped *[]string
}

func (p *scripted) AddHost(decision.HostInfo) {}
func (p *scripted) Step(_ time.Time, in decision.Input) {
	if l, ok := in.(decision.Leadership); ok {
		p.term = l.Token
	}
	if f, ok := in.(decision.FenceResult); ok && p.mu != nil {
		p.mu.Lock()
		*p.stepped = append(*p.stepped, fmt.Sprintf("term %d: fence result of %s level %d ok=%v", p.term, f.Host, f.Level, f.OK))
		p.mu.Unlock()
	}
}
func (p *scripted) Restore([]decision.Record)                 {}
func (p *scripted) RestoreSnapshot([]decision.Record, uint64) {}
func (p *scripted) Status() []decision.HostStatus             { return nil }
func (p *scripted) Grant(time.Time, decision.AgentReport) (decision.Grant, error) {
	return decision.Grant{}, nil
}
func (p *scripted) Tick(time.Time) decision.Ready {
	if p.done {
		return decision.Ready{}
	}
	p.done = true
	return decision.Ready{Actions: p.acts}
}

type slowNova struct{ gate chan struct{} }

func (n slowNova) Do(context.Context, decision.Action) []decision.Input { <-n.gate; return nil }

type offLog struct {
	mu   sync.Mutex
	offs []time.Time
}

func (o *offLog) Off(context.Context) (fence.Proof, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.offs = append(o.offs, time.Now())
	return fence.Proof{Driver: "ipmi", Detail: "off"}, nil
}
func (o *offLog) On(context.Context) error                     { return nil }
func (o *offLog) Status(context.Context) (fence.Status, error) { return fence.StatusOff, nil }

type topoMap map[string]fence.Topology

func (t topoMap) Topology(h string) (fence.Topology, error) { return t[h], nil }

func TestAttack21EndedTermActsNoMore(t *testing.T) {
	dev := &offLog{}
	nv := slowNova{gate: make(chan struct{})}
	disp := &executor.Dispatch{
		Topos: topoMap{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "ipmi cmp1", Driver: "ipmi", Device: dev, Power: true}}}}},
		Nova:  nv,
	}
	pol := &scripted{acts: []decision.Action{
		{Kind: decision.ActForceDown, Host: "cmp1", Rule: "force-down-after-fence"},
		{Kind: decision.ActFence, Host: "cmp1", Level: 1, Rule: "fence"},
	}}
	lead := &onceLead{again: make(chan struct{})}
	loop := New(func() Policy { return pol }, []decision.HostInfo{{Name: "cmp1"}}, &memStore{recs: map[string]decision.Record{}})
	r := NewRunner("ctl-1", loop, lead, disp, func(decision.Ack) {}, slog.New(slog.DiscardHandler))
	r.Every = 10 * time.Millisecond
	disp.Report = r.Submit
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	bound := time.Now().Add(time.Minute) // a failure bound only
	for !pol.done || !r.Leading() {
		if time.Now().After(bound) {
			t.Fatal("the member never led and decided")
		}
		time.Sleep(time.Millisecond) // polling a condition, bounded above
	}
	time.Sleep(50 * time.Millisecond) // let the Ready be carried out (queued in Dispatch)
	lead.expire()
	for r.Leading() {
		if time.Now().After(bound) {
			t.Fatal("the member kept leading after its lease ran out")
		}
		time.Sleep(time.Millisecond)
	}
	ended := time.Now()
	close(nv.gate) // Nova answers the force-down at last
	disp.Wait()
	dev.mu.Lock()
	defer dev.mu.Unlock()
	for _, at := range dev.offs {
		if at.After(ended) {
			t.Errorf("cmp1 was powered off %v after its term ended (the lease ran out): the ended term acted", at.Sub(ended).Round(time.Millisecond))
		}
	}
	cancel()
	<-done
}

// The same member elected again (an etcd blip: its lease ran out, its next
// campaign won) steps the ended term's fence result into its new term: the
// Runner drains what came while it did not lead, but the result of an
// action still under way at the term's end comes after the drain. The
// engine takes a FenceResult for the fence it has in flight, whichever
// term sent it (FenceResult carries no term).
func TestAttack21EndedTermResultReachesTheNextTerm(t *testing.T) {
	dev := &offLog{}
	nv := slowNova{gate: make(chan struct{})}
	disp := &executor.Dispatch{
		Topos: topoMap{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "ipmi cmp1", Driver: "ipmi", Device: dev, Power: true}}}}},
		Nova:  nv,
	}
	var mu sync.Mutex
	var stepped []string
	var decided sync.WaitGroup
	decided.Add(1)
	terms := 0
	newPolicy := func() Policy {
		terms++
		p := &scripted{mu: &mu, stepped: &stepped}
		if terms == 1 {
			p.acts = []decision.Action{
				{Kind: decision.ActForceDown, Host: "cmp1", Rule: "force-down-after-fence"},
				{Kind: decision.ActFence, Host: "cmp1", Level: 1, Rule: "fence"},
			}
			decided.Done()
		} else {
			p.done = true
		}
		return p
	}
	lead := &onceLead{again: make(chan struct{})}
	loop := New(newPolicy, []decision.HostInfo{{Name: "cmp1"}}, &memStore{recs: map[string]decision.Record{}})
	r := NewRunner("ctl-1", loop, lead, disp, func(decision.Ack) {}, slog.New(slog.DiscardHandler))
	r.Every = 10 * time.Millisecond
	disp.Report = r.Submit
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	bound := time.Now().Add(time.Minute) // a failure bound only
	decided.Wait()
	time.Sleep(50 * time.Millisecond) // the Ready is carried out: queued in Dispatch
	lead.expire()
	for r.Leading() {
		if time.Now().After(bound) {
			t.Fatal("the member kept leading after its lease ran out")
		}
		time.Sleep(time.Millisecond) // polling a condition, bounded above
	}
	close(lead.again) // elected again: term 10
	for !r.Leading() {
		if time.Now().After(bound) {
			t.Fatal("the member was not elected again")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(nv.gate)
	disp.Wait()
	time.Sleep(50 * time.Millisecond) // the result goes through the runner's queue
	mu.Lock()
	defer mu.Unlock()
	for _, s := range stepped {
		if !strings.HasPrefix(s, "term 9:") {
			t.Errorf("%s: term 9's action reported into another term", s)
		}
	}
	cancel()
	<-done
}
