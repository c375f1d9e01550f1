package scenario

import (
	"testing"
	"time"
)

// outageRun plays one outage of every network of cmp4 (its bond), lasting
// length and starting at 20 s + offset, at vigil's default settings, and
// reports whether vigil fenced cmp4.
func outageRun(tb testing.TB, deadAfter, length, offset time.Duration, seed int64) bool {
	tb.Helper()
	s := &Scenario{
		Name: "outage", Seed: seed, Cluster: Cluster{Hosts: 4, Instances: 8}, Duration: Duration(60 * time.Second),
		Vigil: overrideDeadAfter(deadAfter),
	}
	for _, net := range s.Networks() {
		s.Faults = append(s.Faults, Fault{At: Duration(20*time.Second + offset), Cut: net, Host: "cmp4", For: Duration(length)})
	}
	if err := s.Validate(); err != nil {
		tb.Fatal(err)
	}
	r, err := s.Run(PolicyVigil)
	if err != nil {
		tb.Fatal(err)
	}
	return len(r.Fenced) > 0
}

func overrideDeadAfter(d time.Duration) *Overrides {
	o := &Overrides{}
	o.Detection.DeadAfter = Duration(d)
	return o
}

// window sweeps outage lengths from 1 s up in steps of 100 ms, each at
// every phase (10 world seeds, which shift every host's report phase, times
// 10 start offsets 100 ms apart), and returns the longest length at which no
// phase fenced the host and the shortest at which some phase did.
func window(tb testing.TB, deadAfter time.Duration, phases int) (safe, fences time.Duration) {
	for length := time.Second; length <= 15*time.Second; length += 100 * time.Millisecond {
		for p := 0; p < phases*phases; p++ {
			if outageRun(tb, deadAfter, length, time.Duration(p%phases)*100*time.Millisecond, int64(p/phases)) {
				return length - 100*time.Millisecond, length
			}
		}
	}
	tb.Fatal("no outage up to 15 s fenced the host")
	return 0, 0
}

// detection plays a dead host (power loss, kernel hang) at the default
// settings and returns the slowest time from the fault to "failed" over
// the same phases.
func detection(tb testing.TB, deadAfter time.Duration, fault Fault, phases int) time.Duration {
	worst := time.Duration(0)
	for p := 0; p < phases*phases; p++ {
		f := fault
		f.At = Duration(20*time.Second + time.Duration(p%phases)*100*time.Millisecond)
		s := &Scenario{Name: "dead", Seed: int64(p / phases), Cluster: Cluster{Hosts: 4, Instances: 8}, Vigil: overrideDeadAfter(deadAfter),
			Duration: Duration(60 * time.Second), Faults: []Fault{f}}
		r, err := s.Run(PolicyVigil)
		if err != nil {
			tb.Fatal(err)
		}
		if r.Detected < 0 || len(r.Fenced) == 0 {
			tb.Fatalf("%+v: the dead host was never fenced", fault)
		}
		worst = max(worst, r.Detected-time.Duration(f.At))
	}
	return worst
}

// BenchmarkFalsePositiveWindow measures the trade-off an operator tunes with
// detection.dead_after: the longest outage of every network of a live host
// that never leads to a fence, against how fast a dead host is detected, in
// the same run; at the default dead_after (6 s) and at 10 s.
//
//	go test -run '^$' -bench FalsePositiveWindow -benchtime 1x ./internal/scenario/
func BenchmarkFalsePositiveWindow(b *testing.B) {
	for _, deadAfter := range []time.Duration{6 * time.Second, 10 * time.Second} {
		b.Run("dead_after="+deadAfter.String(), func(b *testing.B) {
			for b.Loop() {
				safe, fences := window(b, deadAfter, 10)
				off := detection(b, deadAfter, Fault{Power: "off", Host: "cmp4"}, 10)
				hang := detection(b, deadAfter, Fault{Hang: "host", Host: "cmp4"}, 10)
				b.ReportMetric(safe.Seconds(), "never-fenced-outage-s")
				b.ReportMetric(fences.Seconds(), "fenced-outage-s")
				b.ReportMetric(off.Seconds(), "detect-power-off-s")
				b.ReportMetric(hang.Seconds(), "detect-hang-s")
				b.Logf("dead_after %v: outage never fenced up to %v, fenced from %v; dead host detected within %v (power off), %v (hang)", deadAfter, safe, fences, off, hang)
			}
		})
	}
}

// TestFalsePositiveWindow holds the documented figure (docs/performance.md):
// at the default settings an outage of every network of a live host up to
// dead_after never leads to a fence, whatever its phase. A coarser sweep
// than the benchmark's.
func TestFalsePositiveWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("sweeps outages")
	}
	for _, length := range []time.Duration{5 * time.Second, 5300 * time.Millisecond, 6 * time.Second} {
		for p := 0; p < 16; p++ {
			if outageRun(t, 6*time.Second, length, time.Duration(p%4)*250*time.Millisecond, int64(p/4)) {
				t.Errorf("a live host whose every network was out for %v (phase %d) was fenced", length, p)
			}
		}
	}
}
