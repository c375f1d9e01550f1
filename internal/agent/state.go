package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-ha/vigil/internal/atomicfile"
)

// NewProcessID names a new agent process: random, so no two processes of
// any host share one (SelfReport.Agent), and it is never derived from
// anything a restart could repeat (a pid, the boot id, a file).
func NewProcessID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

const stateFile = "contract.json"

// SaveState writes what a successor on the same boot resumes from into dir
// (the agent's state directory), atomically: a crash leaves the old file or
// the new one, never half of one. Losing it is safe (the successor starts
// as isolated); it must never hold a later expiry than a grant gave.
func SaveState(dir string, s Saved) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(dir, stateFile, b); err != nil {
		return fmt.Errorf("agent: state_dir %w", err)
	}
	return nil
}

// LoadState reads the state a predecessor saved in dir. It returns nil,
// nil when there is none or it is of another boot (a new boot starts as
// isolated), and an error only for a file it cannot read or parse, which
// the agent reports and treats as none.
func LoadState(dir, boot string) (*Saved, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: state_dir %s: %w", dir, err)
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("agent: %s: %w (starting as isolated)", filepath.Join(dir, stateFile), err)
	}
	if s.BootID != boot {
		return nil, nil
	}
	return &s, nil
}
