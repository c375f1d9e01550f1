package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAttack16 runs scenarios/attack16/ (adversarial review 16, of
// caa88a0): schedules that end with double writers or a broken invariant
// on that commit. Each file's about says what breaks.
func TestAttack16(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/attack16/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no attack16 scenarios found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if r := runVigil(t, data); !r.Pass() {
				t.Errorf("%s\n%s", r.Summary(), r.Explain())
			}
		})
	}
}
