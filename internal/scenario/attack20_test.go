package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAttack20 runs scenarios/attack20/ (adversarial review 20, of
// 35f5554): schedules that end with double writers or a broken invariant
// on that commit. Each file's about says what breaks.
func TestAttack20(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/attack20/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no attack20 scenarios found: %v", err)
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
