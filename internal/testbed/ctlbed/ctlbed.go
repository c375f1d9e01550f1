// Package ctlbed is an in-process controller for tests: the decision engine
// behind a controller.Loop and Runner, its journal in memory, and the
// agentnet server on real sockets, so real agents (their uplinks) can talk
// to it over UDP. The journal and leadership are test doubles (the real
// ones, on etcd, are tested in internal/journal); the loop, the engine and
// the transport are the production code.
package ctlbed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/wire"
)

// MemStore is the journal, in memory.
type MemStore struct {
	mu   sync.Mutex
	recs map[string]decision.Record
}

// NewMemStore is an empty journal.
func NewMemStore() *MemStore { return &MemStore{recs: map[string]decision.Record{}} }

// Records returns every record.
func (s *MemStore) Records() ([]decision.Record, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []decision.Record
	for _, r := range s.recs {
		out = append(out, r)
	}
	return out, 0, nil
}

// Write keeps the latest record of each host.
func (s *MemStore) Write(recs []decision.Record, _ []decision.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.recs[r.Host] = r
	}
	return nil
}

// SoleLead is the only member, elected at once, its lease never ending.
type SoleLead struct{ Token uint64 }

func (l SoleLead) Campaign(ctx context.Context, _ string) (uint64, error) { return l.Token, ctx.Err() }
func (SoleLead) Deadline() time.Time                                      { return time.Now().Add(time.Hour) }
func (SoleLead) Resign(context.Context) error                             { return nil }

// NoExec carries out nothing.
type NoExec struct{}

func (NoExec) Execute(context.Context, decision.Action) {}

// Controller is one running in-process controller.
type Controller struct {
	Server *agentnet.Server
	Runner *controller.Runner
	loop   *controller.Loop
	stop   func()
}

// Start runs a controller over hosts with engine settings dcfg, listening
// as cfg says, until the test ends; it returns once it leads.
func Start(t testing.TB, hosts []string, dcfg decision.Config, cfg agentnet.Config, keys wire.Keys, store controller.Store, token uint64) *Controller {
	t.Helper()
	srv, err := agentnet.Listen(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	var infos []decision.HostInfo
	for _, h := range hosts {
		infos = append(infos, decision.HostInfo{Name: h})
	}
	loop := controller.New(func() controller.Policy {
		e, err := decision.New(dcfg)
		if err != nil {
			panic(err)
		}
		return e
	}, infos, store)
	r := controller.NewRunner("ctlbed", loop, SoleLead{Token: token}, NoExec{}, srv.Ack, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx, r) }()
	c := &Controller{Server: srv, Runner: r, loop: loop, stop: func() { cancel(); wg.Wait(); srv.Close() }}
	t.Cleanup(c.Stop)
	Eventually(t, 20*time.Second, "the controller leads", func() error {
		if !r.Leading() {
			return errors.New("not leading")
		}
		return nil
	})
	return c
}

// Stop stops it (idempotent).
func (c *Controller) Stop() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
}

// Eventually polls cond until it returns nil, failing the test after
// within with its last error: a failure bound, never a timing.
func Eventually(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
