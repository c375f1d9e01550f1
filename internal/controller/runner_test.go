package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// gatedLead is a test double of our own Leadership: Campaign blocks until
// the test opens it; then the member leads with a lease an hour long.
type gatedLead struct {
	open chan struct{}
	mu   sync.Mutex
	till time.Time
}

func (g *gatedLead) Campaign(ctx context.Context, _ string) (uint64, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.till = time.Now().Add(time.Hour)
	return 7, nil
}

func (g *gatedLead) Deadline() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.till
}

func (g *gatedLead) Resign(context.Context) error { return nil }

type noExec struct{}

func (noExec) Execute(context.Context, decision.Action) {}

// A member that is still campaigning answers reports and plans at once
// with ErrNotLeading and takes any number of submitted inputs without
// holding the caller (a transport's receive loop); once elected it leads
// and says so, grants, and plans (on the loop's goroutine: go test -race).
func TestCampaigningMemberHoldsNoCaller(t *testing.T) {
	lead := &gatedLead{open: make(chan struct{})}
	r := NewRunner("ctl-1", New(engine(t), hosts, &memStore{recs: map[string]decision.Record{}}), lead, noExec{}, func(decision.Ack) {}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	bound, stop := context.WithTimeout(ctx, time.Minute) // a failure bound only
	defer stop()
	if _, err := r.Report(bound, report("cmp1", "p1", 1, decision.Ticket{})); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a campaigning member answered a report with %v, want ErrNotLeading", err)
	}
	if _, err := r.Plan(bound, "cmp1"); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a campaigning member answered a plan with %v, want ErrNotLeading", err)
	}
	for range 4 * cap(r.reqs) {
		r.Submit(decision.PeerReport{Observer: "cmp2", Host: "cmp1", Network: "mgmt", Reachable: true})
	}
	if r.Leading() {
		t.Fatal("a campaigning member says it leads")
	}
	close(lead.open)
	for !r.Leading() {
		if bound.Err() != nil {
			t.Fatal("the elected member never said it leads")
		}
		time.Sleep(time.Millisecond) // polling a condition, bounded above
	}
	if _, err := r.Report(bound, report("cmp1", "p1", 2, decision.Ticket{})); err != nil {
		t.Fatalf("the leader did not grant: %v", err)
	}
	if p, err := r.Plan(bound, "cmp1"); err != nil || p.Host != "cmp1" || p.Hold != "failover-grace" {
		t.Fatalf("the new leader's plan of cmp1 = host %q hold %q, %v; want cmp1 held by its failover grace", p.Host, p.Hold, err)
	}
	if _, err := r.Plan(bound, "cmp9"); !errors.Is(err, decision.ErrUnknownHost) {
		t.Fatalf("the leader's plan of an unknown host: %v, want decision.ErrUnknownHost", err)
	}
	cancel()
	<-done
	if r.Leading() {
		t.Fatal("a stopped member says it leads")
	}
}
