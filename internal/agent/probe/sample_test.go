package probe

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/decision"
)

func TestTrackerCountsNewRuns(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	run := func(inst string, at time.Duration, rc int) Sample {
		return Sample{Running: true, Instance: inst, Started: t0.Add(at), RestartCount: rc}
	}
	down := Sample{}
	failed := Sample{Instance: "probe failed"} // marker: the step calls Failed
	up := func(restarts int) decision.Process { return decision.Process{Running: true, Restarts: restarts} }
	stopped := func(restarts int) decision.Process { return decision.Process{Running: false, Restarts: restarts} }
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    []decision.Process
	}{
		{"running at the first sample is the baseline",
			[]Sample{run("c1", 0, 3), run("c1", 0, 3)},
			[]decision.Process{up(0), up(0)}},
		{"a new start time of the same container is a restart (docker restart resets its count)",
			[]Sample{run("c1", 0, 2), run("c1", time.Minute, 0)},
			[]decision.Process{up(0), up(1)}},
		{"a restart policy that restarted three times between samples counts three",
			[]Sample{run("c1", 0, 1), run("c1", time.Minute, 4)},
			[]decision.Process{up(0), up(3)}},
		{"a recreated container (new id) is a restart, whatever its count",
			[]Sample{run("c1", 0, 5), run("c2", time.Minute, 0)},
			[]decision.Process{up(0), up(1)}},
		{"a process restarted between samples: new pid and start",
			[]Sample{run("pid 10", 0, 0), run("pid 99", time.Second, 0)},
			[]decision.Process{up(0), up(1)}},
		{"stop then start: the start is the restart, the stop keeps the count",
			[]Sample{run("p1", 0, 0), down, down, run("p2", time.Minute, 0), run("p2", time.Minute, 0)},
			[]decision.Process{up(0), stopped(0), stopped(0), up(1), up(1)}},
		{"down at the first sample, then started: one start seen",
			[]Sample{down, run("p1", time.Minute, 0)},
			[]decision.Process{stopped(0), up(1)}},
		{"a restart during a probe failure still counts",
			[]Sample{run("c1", 0, 0), failed, run("c1", time.Minute, 0)},
			[]decision.Process{up(0), stopped(0), up(1)}},
		{"a failed first probe is no sample: the run found next is the baseline",
			[]Sample{failed, run("c1", 0, 0)},
			[]decision.Process{stopped(0), up(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			var got []decision.Process
			for _, s := range tc.samples {
				if s.Instance == failed.Instance {
					got = append(got, tr.Failed())
					continue
				}
				got = append(got, tr.Observe(s))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("reports (-want +got):\n%s", d)
			}
		})
	}
}
