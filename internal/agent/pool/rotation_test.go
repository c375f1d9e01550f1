package pool

import (
	"fmt"
	"testing"
	"time"
)

// A rotation from generation 1 to 2 the way operators do it (vigil keys
// rotate, every host's new file; vigil keys retire, every host's file
// again), one agent restarted at a time: at every step every member
// reaches every other, and the pool moves to generation 2 once every
// member holds it.
func TestRotationWithoutLosingReach(t *testing.T) {
	ks := newKeySet(t)
	const n = 3
	ps := make([]*Pool, n)
	restart := func(i int, gens ...uint32) {
		t.Helper()
		if ps[i] != nil {
			ps[i].Close()
		}
		var join []int
		for j := 1; j <= n; j++ {
			if j != i+1 {
				join = append(join, j)
			}
		}
		ps[i] = start(t, testConfig(t, i+1, ks.keys(t, gens...), join...))
	}
	allReach := func(step string) {
		t.Helper()
		converge(t, ps, n)
		for _, p := range ps { // the first round after the restart: no time to recover
			for h, ok := range reach(p) {
				if !ok {
					t.Fatalf("%s: %s does not reach %s", step, p.cfg.Host, h)
				}
			}
		}
	}
	generations := func() []uint32 {
		var g []uint32
		for _, p := range ps {
			g = append(g, p.Stats().Generation)
		}
		return g
	}
	for i := range n {
		restart(i, 1)
	}
	allReach("generation 1")
	for i := range n {
		restart(i, 2, 1)
		allReach(fmt.Sprintf("cmp%d holds 2 and 1", i+1))
		if i < n-1 {
			for _, p := range ps {
				if g := p.Stats().Generation; g != 1 {
					t.Fatalf("%s encrypts with %d while a member holds only 1", p.cfg.Host, g)
				}
			}
		}
	}
	eventually(t, 10*time.Second, func() error {
		for _, p := range ps {
			reach(p) // a round sets the generation
		}
		if g := generations(); fmt.Sprint(g) != "[2 2 2]" {
			return fmt.Errorf("generations %v, want every member on 2", g)
		}
		return nil
	})
	for i := range n {
		restart(i, 2)
		allReach(fmt.Sprintf("cmp%d holds 2 only", i+1))
	}

	// Out of order: a host given a generation no member holds cannot
	// join; nothing it sends opens.
	late := start(t, testConfig(t, n+1, ks.keys(t, 3), 1, 2, 3))
	if n, err := late.Rejoin(); n != 0 || err == nil {
		t.Fatalf("a member holding only generation 3 joined %d (%v)", n, err)
	}
	if m := late.Members(); len(m) != 1 {
		t.Fatalf("it holds %v", m)
	}
}
