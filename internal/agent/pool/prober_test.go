package pool

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// sender records what the prober sends; every second send fails, every
// third panics.
type sender struct {
	mu   sync.Mutex
	sent map[string][][]decision.PeerReport
}

func (s *sender) Peers(_ context.Context, network string, reps []decision.PeerReport) error {
	s.mu.Lock()
	s.sent[network] = append(s.sent[network], reps)
	n := len(s.sent["mgmt"]) + len(s.sent["storage"])
	s.mu.Unlock()
	if n%3 == 0 {
		panic("a sender that panics")
	}
	if n%2 == 0 {
		return errors.New("network unreachable")
	}
	return nil
}

func (s *sender) count(network string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent[network])
}

// The prober sends each network's round every interval, joins its pools
// by itself, and goes on through a sender that fails and one that panics.
func TestProberSendsEveryRoundThroughFaults(t *testing.T) {
	ks := newKeySet(t)
	var mine []*Pool
	for _, net := range []string{"mgmt", "storage"} {
		for i := 1; i <= 3; i++ {
			c := testConfig(t, i, ks.keys(t, 1))
			c.Network = net
			c.Bind = addr(t, i+map[string]int{"mgmt": 0, "storage": 10}[net])
			c.Join = []netip.AddrPort{addr(t, 2+map[string]int{"mgmt": 0, "storage": 10}[net])}
			if i == 1 {
				mine = append(mine, mustNew(t, c)) // joined by the prober, not here
				continue
			}
			start(t, c)
		}
	}
	s := &sender{sent: map[string][][]decision.PeerReport{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); NewProber(mine, s, 100*time.Millisecond, testLog(t)).Run(ctx) }()
	eventually(t, 10*time.Second, func() error {
		for _, n := range []string{"mgmt", "storage"} {
			if c := s.count(n); c < 10 {
				return fmt.Errorf("%d rounds sent on %s", c, n)
			}
		}
		return nil
	})
	cancel()
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, rounds := range s.sent {
		last := rounds[len(rounds)-1]
		if len(last) != 2 {
			t.Errorf("%s: last round %+v, want both peers", n, last)
		}
		for _, r := range last {
			if !r.Reachable || r.Network != n || r.Observer != "cmp1" {
				t.Errorf("%s: %+v", n, r)
			}
		}
	}
}

func mustNew(t *testing.T, c Config) *Pool {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.ml.Shutdown() })
	return p
}
