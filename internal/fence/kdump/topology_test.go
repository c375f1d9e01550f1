package kdump_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// powerDevice is a BMC that powers off at once and counts its calls.
type powerDevice struct{ offs int }

func (p *powerDevice) Off(context.Context) (fence.Proof, error) {
	p.offs++
	return fence.Proof{Driver: "ipmi", Detail: "power read off"}, nil
}
func (p *powerDevice) On(context.Context) error                     { return nil }
func (p *powerDevice) Status(context.Context) (fence.Status, error) { return fence.StatusOn, nil }

// countingProbe answers like a host that no longer answers, and counts.
type countingProbe struct{ calls int }

func (p *countingProbe) Answers(context.Context) (bool, string, error) {
	p.calls++
	return false, "10.20.0.11 silent to ping", nil
}

// A kdump level placed before the power level: a dumping host is fenced by
// its message and its power is never touched (nor is it ping-probed: the
// kdump kernel may answer); a host that sends nothing is powered off by
// the next level once the kdump level's timeout has passed.
func TestKdumpLevelBeforePower(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    []arrival
		wantLevel int
		wantOffs  int
		wantTook  time.Duration
	}{
		{"dumping host", []arrival{{20 * time.Second, "10.0.0.11:40000", x86Message}}, 1, 0, 20 * time.Second},
		{"silent host", nil, 2, 1, 60 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bmc, probe := &powerDevice{}, &countingProbe{}
				topo := fence.Topology{
					Host: "cmp1",
					Levels: [][]fence.Member{
						{{Name: "kdump", Driver: "kdump", Device: device(t, &scripted{script: tc.script}, "10.0.0.11")}},
						{{Name: "ipmi", Driver: "ipmi", Device: bmc, Power: true}},
					},
					Probe: probe,
				}
				start := time.Now()
				out, err := topo.Off(context.Background(), nil)
				if err != nil || out.Level != tc.wantLevel {
					t.Fatalf("Off() = level %d, %v; want level %d", out.Level, err, tc.wantLevel)
				}
				if bmc.offs != tc.wantOffs {
					t.Errorf("the BMC was asked to power off %d times, want %d", bmc.offs, tc.wantOffs)
				}
				if tc.wantLevel == 1 && (probe.calls != 0 || out.Proofs[0].Kdump == nil) {
					t.Errorf("kdump level: %d probes, proofs %v; want no probe and a kdump proof", probe.calls, out.Proofs)
				}
				if took := time.Since(start); took != tc.wantTook {
					t.Errorf("fenced after %v, want %v", took, tc.wantTook)
				}
			})
		})
	}
}
