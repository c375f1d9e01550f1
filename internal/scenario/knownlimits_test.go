package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// TestKnownLimitsStillFail runs docs/known-limits/: each file shows a limit
// vigil fails on purpose. One that passes has been fixed: move it to
// scenarios/ and drop it from the known limits in docs/scenarios.md.
func TestKnownLimitsStillFail(t *testing.T) {
	files, err := filepath.Glob("../../docs/known-limits/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no known-limit scenarios found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if r := runVigil(t, data); r.Pass() {
				t.Errorf("%s passes now: the limit is fixed; move it to scenarios/", r.Summary())
			}
		})
	}
}
