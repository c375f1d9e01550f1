package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAttackScenarios runs every scenarios/attackN/ directory: the
// schedules of adversarial review N that ended with double writers, a
// broken invariant or lost instances on the commit it attacked (each
// file's about names the commit and what broke), and must pass now.
func TestAttackScenarios(t *testing.T) {
	dirs, err := filepath.Glob("../../scenarios/attack*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios/attack*/ found: %v", err)
	}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s holds no scenario: %v", dir, err)
		}
		for _, f := range files {
			t.Run(filepath.Base(dir)+"/"+filepath.Base(f), func(t *testing.T) {
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
}
