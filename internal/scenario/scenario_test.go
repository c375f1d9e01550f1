package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/vigil-ha/vigil/scenarios"
)

// TestShippedScenarios runs every file in scenarios/ under vigil's policy.
func TestShippedScenarios(t *testing.T) {
	files, err := fs.Glob(scenarios.FS, "*.yaml")
	if err != nil || len(files) < 15 {
		t.Fatalf("want at least 15 shipped scenarios, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(f, ".yaml"), func(t *testing.T) {
			data, err := fs.ReadFile(scenarios.FS, f)
			if err != nil {
				t.Fatal(err)
			}
			if r := runVigil(t, data); !r.Pass() {
				t.Errorf("%s\n%s\ntimeline:\n%s", r.Summary(), r.Explain(), r.FormatTimeline())
			}
		})
	}
}

// runVigil parses a scenario file and plays it under vigil's policy.
func runVigil(t *testing.T, data []byte) *Result {
	t.Helper()
	s, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(PolicyVigil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestScripts runs the datadriven scripts in testdata/: each reads like an
// incident report. Regenerate with: go test ./internal/scenario -rewrite
//
//	run [policy=naive|vigil] [timeline]   input: a scenario; output: result and timeline
//	parse                                 input: a scenario; output: ok or the error
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			s, err := Parse([]byte(d.Input))
			switch d.Cmd {
			case "parse":
				if err != nil {
					if !errors.Is(err, ErrInvalid) {
						t.Errorf("error does not wrap ErrInvalid: %v", err)
					}
					return "error: " + err.Error() + "\n"
				}
				return "ok\n"
			case "run":
				if err != nil {
					d.Fatalf(t, "parse: %v", err)
				}
				policy := PolicyVigil
				if d.HasArg("policy") {
					d.ScanArgs(t, "policy", &policy)
				}
				r, err := s.Run(policy)
				if err != nil {
					d.Fatalf(t, "run: %v", err)
				}
				var b strings.Builder
				if d.HasArg("timeline") {
					b.WriteString(compactTimeline(r))
				}
				b.WriteString(strings.TrimSpace(r.Summary()) + "\n")
				b.WriteString(r.Explain())
				fmt.Fprintf(&b, "evacuated=%v fenced=%v double-writers=%v lost=%v held=%v\n", r.Evacuated, r.Fenced, r.DoubleWriters, r.Lost, r.Held)
				return b.String()
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

// compactTimeline is the human timeline without the column padding.
func compactTimeline(r *Result) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(r.FormatTimeline(), "\n"), "\n") {
		b.WriteString(strings.Join(strings.Fields(line), " ") + "\n")
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	files, _ := fs.Glob(scenarios.FS, "*.yaml")
	for _, name := range files {
		data, _ := fs.ReadFile(scenarios.FS, name)
		f.Add(data)
	}
	f.Add([]byte("name: x\ncluster: {hosts: 2}\nrun: 10s\nfaults: [{at: 1s, power: off, host: cmp1, cut: mgmt}]\n"))
	f.Add([]byte("name: x\ncluster: {hosts: 2}\nrun: 10s\nfaults: [{at: 1s, partition: mgmt, groups: [[cmp1], [controllers, cmp2]]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// A scenario that parses must also validate when re-checked, and
		// build a policy without panicking.
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed scenario fails validation: %v", err)
		}
		if _, err := s.NewPolicy(PolicyVigil); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("policy error does not wrap ErrInvalid: %v", err)
		}
	})
}
