package pool

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestMeasurePoolTraffic measures what one member of a pool sends and
// receives at the agent's settings (memberlist's LAN profile, watch 3,
// a round a second): VIGIL_MEASURE=1 go test -count=1 -v -run
// TestMeasurePoolTraffic ./internal/agent/pool/ (docs/performance.md).
func TestMeasurePoolTraffic(t *testing.T) {
	if os.Getenv("VIGIL_MEASURE") != "1" {
		t.Skip("a measurement: VIGIL_MEASURE=1")
	}
	const n = 16
	span := 60 * time.Second
	ks := newKeySet(t)
	var ps []*Pool
	for i := 1; i <= n; i++ {
		c := testConfig(t, i, ks.keys(t, 1), 1)
		c.Memberlist = memberlist.DefaultLANConfig
		ps = append(ps, start(t, c))
	}
	converge(t, ps, n)
	time.Sleep(5 * time.Second) // the joins' gossip is over
	before := make([]Stats, n)
	for i, p := range ps {
		before[i] = p.Stats()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	unreachable := 0
	for end := time.Now().Add(span); time.Now().Before(end); <-tick.C {
		for _, p := range ps {
			for _, r := range p.Round() {
				if !r.Reachable {
					unreachable++
				}
			}
		}
	}
	var in, out, bin, bout, streams float64
	for i, p := range ps {
		s := p.Stats()
		in += float64(s.PacketsIn - before[i].PacketsIn)
		out += float64(s.PacketsOut - before[i].PacketsOut)
		bin += float64(s.BytesIn - before[i].BytesIn)
		bout += float64(s.BytesOut - before[i].BytesOut)
		streams += float64(s.StreamsOut - before[i].StreamsOut)
	}
	per := float64(n) * span.Seconds()
	t.Logf("%d members, %v, LAN profile, watch 3: per member %.1f packets/s in, %.1f out; %.0f B/s in, %.0f out; %.3f streams/s opened; %d unreachable answers in %d rounds",
		n, span, in/per, out/per, bin/per, bout/per, streams/per, unreachable, n*int(span.Seconds()))
}

// TestMeasurePoolMemory measures what a member's view of the pool costs
// per member it holds: pools of 60 and of 120 members in this process,
// each member holding all of them, the heap after each (the difference
// takes out what each member costs whatever the pool's size):
// VIGIL_MEASURE=1 go test -count=1 -v -run TestMeasurePoolMemory
// ./internal/agent/pool/ (docs/performance.md).
func TestMeasurePoolMemory(t *testing.T) {
	if os.Getenv("VIGIL_MEASURE") != "1" {
		t.Skip("a measurement: VIGIL_MEASURE=1")
	}
	ks := newKeySet(t)
	heap := func(n int) float64 {
		var ps []*Pool
		for i := 1; i <= n; i++ {
			c := testConfig(t, i, ks.keys(t, 1), 1)
			c.Memberlist = memberlist.DefaultLANConfig
			ps = append(ps, start(t, c))
		}
		converge(t, ps, n)
		for _, p := range ps {
			p.Round()
		}
		time.Sleep(2 * time.Second)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for _, p := range ps {
			_ = p.ml.Shutdown()
		}
		time.Sleep(time.Second)
		return float64(ms.HeapInuse)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := float64(ms.HeapInuse)
	h60 := heap(60) - base
	h120 := heap(120) - base
	perEntry := (h120 - 2*h60) / (120*120 - 2*60*60)
	perMember := (h60 - 60*60*perEntry) / 60
	t.Logf("heap: 60 members %.1f MiB, 120 members %.1f MiB: %.0f bytes per member held in a view, %.0f KiB per member whatever the size; a view of 10,000 members %.1f MiB",
		h60/(1<<20), h120/(1<<20), perEntry, perMember/1024, 10000*perEntry/(1<<20))
}
