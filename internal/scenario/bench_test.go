package scenario

import (
	"io/fs"
	"testing"

	"github.com/vigil-ha/vigil/scenarios"
)

// BenchmarkRecovery plays failure scenarios under vigil and under the naive
// rule in the same run and reports, in virtual seconds from the fault:
// detection (first "failed"), first evacuate call, every instance running
// elsewhere, and the double writers. ns/op is the simulator's own cost.
//
//	go test -run '^$' -bench Recovery ./internal/scenario/
func BenchmarkRecovery(b *testing.B) {
	for _, name := range []string{"seed-incident", "power-loss", "hang", "full-isolation"} {
		data, err := fs.ReadFile(scenarios.FS, name+".yaml")
		if err != nil {
			b.Fatal(err)
		}
		s, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		for _, policy := range []string{PolicyVigil, PolicyNaive} {
			b.Run(name+"/"+policy, func(b *testing.B) {
				var r *Result
				for b.Loop() {
					if r, err = s.Run(policy); err != nil {
						b.Fatal(err)
					}
				}
				fault := r.FirstFault
				if fault < 0 {
					fault = 20e9 // the seed incident's nova-compute stop
				}
				rel := func(d int64) float64 {
					if d < 0 {
						return -1
					}
					return float64(d-int64(fault)) / 1e9
				}
				b.ReportMetric(rel(int64(r.Detected)), "detect-s")
				b.ReportMetric(rel(int64(r.FirstEvacuate)), "first-evac-s")
				b.ReportMetric(rel(int64(r.Recovered)), "recovered-s")
				b.ReportMetric(float64(len(r.DoubleWriters)), "double-writers")
			})
		}
	}
}
