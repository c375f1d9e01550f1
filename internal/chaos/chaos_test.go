package chaos

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-ha/vigil/internal/scenario"
	"github.com/vigil-ha/vigil/internal/sim"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(42), Generate(42)
	if diff := cmp.Diff(a, b, cmpopts.IgnoreUnexported(scenario.Scenario{})); diff != "" {
		t.Errorf("same seed, different schedules:\n%s", diff)
	}
	if cmp.Equal(Generate(42).Faults, Generate(43).Faults) {
		t.Errorf("seeds 42 and 43 gave the same faults")
	}
}

func TestShrinkKeepsTheFailure(t *testing.T) {
	// The naive rule breaks invariants often; find one schedule and shrink it.
	for seed := int64(1); seed < 200; seed++ {
		s := Generate(seed)
		if len(Broken(s, scenario.PolicyNaive)) == 0 || len(s.Faults) < 2 {
			continue
		}
		m := Shrink(s, scenario.PolicyNaive)
		if len(m.Faults) > len(s.Faults) || len(Broken(m, scenario.PolicyNaive)) == 0 {
			t.Fatalf("seed %d: shrunk schedule (%d faults, was %d) no longer fails", seed, len(m.Faults), len(s.Faults))
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("shrunk schedule is invalid: %v", err)
		}
		return
	}
	t.Fatal("no failing naive schedule with two or more faults in 200 seeds")
}

func TestVigilHoldsInvariantsAndIsExercised(t *testing.T) {
	rep, err := Run(Options{Schedules: 300, Seed: 1000, Policy: scenario.PolicyVigil})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Failures {
		t.Errorf("schedule %d (seed %d) broke: %v", f.Index, f.Seed, f.Broken)
	}
	if rep.Fenced < 100 || rep.Evacuated < 100 || rep.Held == 0 {
		t.Errorf("schedules exercised too little: %+v", rep)
	}
}

func TestConfirmsAreTruthful(t *testing.T) {
	off := scenario.Fault{At: 10, Power: "off", Host: "cmp1"}
	for _, tc := range []struct {
		name   string
		faults []scenario.Fault
		want   bool
	}{
		{"off for good, then confirmed", []scenario.Fault{off, {At: 20, Confirm: "cmp1"}}, true},
		{"confirmed before the power loss", []scenario.Fault{off, {At: 5, Confirm: "cmp1"}}, false},
		{"power back later", []scenario.Fault{off, {At: 20, Confirm: "cmp1"}, {At: 30, Power: "on", Host: "cmp1"}}, false},
		{"power cycle", []scenario.Fault{{At: 10, Power: "off", Host: "cmp1", For: 5}, {At: 12, Confirm: "cmp1"}}, false},
		{"never off", []scenario.Fault{{At: 20, Confirm: "cmp1"}}, false},
	} {
		s := &scenario.Scenario{Faults: tc.faults}
		if got := truthful(s); got != tc.want {
			t.Errorf("%s: truthful = %v, want %v", tc.name, got, tc.want)
		}
	}
	for seed := int64(1); seed < 500; seed++ {
		if s := Generate(seed); !truthful(s) {
			t.Fatalf("seed %d generated a lying confirm: %+v", seed, s.Faults)
		}
	}
}

// Every fuzzer finds only what its generator can express: the classic mix
// must draw each of Nova's faults (issue 6 §7).
func TestGeneratorDrawsNovaFaults(t *testing.T) {
	seen := map[string]bool{}
	for seed := int64(1); seed < 500; seed++ {
		s := Generate(seed)
		if s.Cluster.Capacity > 0 {
			seen["capacity"] = true
		}
		for _, f := range s.Faults {
			switch {
			case f.Instance == "migrating" && f.Host != "":
				seen["migrating-switched-over"] = true
			case f.Instance != "":
				seen[f.Instance] = true
			case f.Rebuild != "":
				seen["rebuild-"+f.Rebuild] = true
			}
		}
	}
	for _, want := range []string{"shutoff", "error", "migrating", "migrating-switched-over", "deleting", "rebuilding", "capacity", "rebuild-fails"} {
		if !seen[want] {
			t.Errorf("500 schedules never drew %s", want)
		}
	}
}

// TestSafetyTellsWritersFromRecovery: --gate safety fails a run only for
// the promises about writers and fences, never for an instance not recovered.
func TestSafetyTellsWritersFromRecovery(t *testing.T) {
	for _, c := range []struct {
		name string
		r    scenario.Result
		want bool
	}{
		{"lost only", scenario.Result{Lost: []string{"vm01"}, Stranded: []string{"vm02"}}, false},
		{"held forever", scenario.Result{Violations: []sim.Violation{{Host: "cmp1", What: "held for good"}}}, false},
		{"double writer", scenario.Result{DoubleWriters: []string{"vm01"}}, true},
		{"evacuated unfenced", scenario.Result{Violations: []sim.Violation{{Host: "cmp1", What: "evacuate while it runs", Safety: true}}}, true},
	} {
		if got := safety(&c.r, nil); got != c.want {
			t.Errorf("%s: safety %v, want %v", c.name, got, c.want)
		}
	}
	if !safety(nil, errors.New("boom")) {
		t.Error("a run that failed to run counted as safe")
	}
}

// The rejoin class turns some schedules to the manual rejoin policy with
// operator rejoins of the hosts their faults touch, and leaves every other
// fault of the seed as it was.
func TestRejoinClass(t *testing.T) {
	without := map[string]int{}
	for k, v := range DefaultClasses {
		without[k] = v
	}
	without[ClassRejoin] = 0
	manual, verbs := 0, 0
	for seed := int64(1); seed <= 200; seed++ {
		s, plain := Generate(seed), GenerateWith(seed, Gen{Classes: without})
		var rest []scenario.Fault
		for _, f := range s.Faults {
			if f.Rejoin != "" {
				verbs++
				continue
			}
			rest = append(rest, f)
		}
		if diff := cmp.Diff(plain.Faults, rest, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("seed %d: the rejoin class changed the other faults:\n%s", seed, diff)
		}
		if s.Vigil != nil && s.Vigil.Recovery.Rejoin == "manual" {
			manual++
		} else if len(rest) != len(s.Faults) {
			t.Fatalf("seed %d: rejoin verbs under the automatic policy", seed)
		}
	}
	if manual < 20 || manual > 80 || verbs == 0 {
		t.Errorf("200 seeds: %d under the manual policy (want about 50), %d rejoin verbs", manual, verbs)
	}
}

// TestLiarClassStaysBelowTheKnownLimit: the liar class draws every pattern
// of the quiet-host fast path's stresses, keeps each outage of the host
// below the documented limit (docs/known-limits/lying-bmc-bond-cut-3.8s.yaml),
// and lies across the whole of it: the lie starts before the first fault on
// the host and ends after the last one.
func TestLiarClassStaysBelowTheKnownLimit(t *testing.T) {
	g := Gen{Classes: map[string]int{ClassLiar: 1}}
	seen := map[string]bool{}
	for seed := int64(1); seed < 300; seed++ {
		s := GenerateWith(seed, g)
		lies := map[string][]scenario.Fault{}
		for _, f := range s.Faults {
			if f.BMC == "lies" {
				if f.For <= 0 {
					t.Fatalf("seed %d: a lie without an end: %+v", seed, f)
				}
				lies[f.Host] = append(lies[f.Host], f)
			}
		}
		for _, f := range s.Faults {
			short := f.Hang != "" || f.Cut == "bond"
			switch {
			case f.Hang != "":
				seen["hang-"+f.Hang] = true
			case f.Cut == "bond":
				seen["bond"] = true
			case f.Crash != "":
				seen["crash"] = true
			case f.Partition == "storage":
				seen["ceph-island"] = true
			case f.Stall != "":
				seen["stall"] = true
			}
			if short && f.For >= scenario.Duration(3500*time.Millisecond) {
				t.Errorf("seed %d: %+v reaches the documented limit", seed, f)
			}
			if f.Host == "" || f.BMC != "" {
				continue
			}
			covered := false
			for _, l := range lies[f.Host] {
				covered = covered || l.At <= f.At && f.At+f.For <= l.At+l.For
			}
			if !covered {
				t.Errorf("seed %d: %+v is not covered by a lie of its host's BMC %+v", seed, f, lies[f.Host])
			}
		}
	}
	for _, want := range []string{"hang-host", "hang-userspace", "bond", "crash", "ceph-island", "stall"} {
		if !seen[want] {
			t.Errorf("300 liar schedules never drew %s", want)
		}
	}
}
