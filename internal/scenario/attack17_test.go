package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAttack17 runs scenarios/attack17/ (adversarial review 17, of
// e9c846b): schedules that end with double writers or a broken invariant
// on that commit. Each file's about says what breaks.
func TestAttack17(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/attack17/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no attack17 scenarios found: %v", err)
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
