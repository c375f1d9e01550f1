package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateSurvivesARestartOfTheSameBootOnly(t *testing.T) {
	dir := t.TempDir()
	if s, err := LoadState(dir, "b1"); s != nil || err != nil {
		t.Fatalf("no state yet: %+v, %v", s, err)
	}
	if err := SaveState(dir, Saved{BootID: "b1", Expiry: 42 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadState(dir, "b1"); err != nil || s == nil || s.Expiry != 42*time.Second {
		t.Fatalf("same boot: %+v, %v", s, err)
	}
	if s, err := LoadState(dir, "b2"); s != nil || err != nil {
		t.Fatalf("a new boot resumed the old boot's grant: %+v, %v", s, err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadState(dir, "b1"); s != nil || err == nil {
		t.Fatalf("a torn file: %+v, %v; want an error and no state", s, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestProcessIDsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewProcessID()
		if len(id) != 32 || seen[id] {
			t.Fatalf("process id %q repeated or malformed", id)
		}
		seen[id] = true
	}
}
