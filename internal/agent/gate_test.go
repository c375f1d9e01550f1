package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// The gate answers over a real unix socket what the contract says: guests
// start only under a fresh grant that lets them, and not at all once the
// agent is gone.
func TestGateAnswersFromTheContract(t *testing.T) {
	var now time.Duration
	c, err := NewContract("b1", "p1", iso, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(func() time.Duration { return now })
	sock := filepath.Join(t.TempDir(), "gate.sock")
	l, err := ListenGate(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, l) }()
	ask := func() (bool, string) {
		t.Helper()
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer acancel()
		return AskGate(actx, sock, "instance-0001", "prepare")
	}
	if ok, why := ask(); ok || !strings.Contains(why, "no fresh grant") {
		t.Fatalf("a new boot before any grant: %v %q; want a refusal saying why", ok, why)
	}
	now = time.Second
	c.Granted(grantFor(c.Report(now, decision.SelfReport{}), false))
	g.Set(c.GuestsUntil())
	if ok, _ := ask(); ok {
		t.Fatal("a grant that withholds guests (an incident holds the fence) let a guest start")
	}
	c.Granted(grantFor(c.Report(2*time.Second, decision.SelfReport{}), true))
	g.Set(c.GuestsUntil())
	now = 11 * time.Second
	if ok, why := ask(); !ok {
		t.Fatalf("under a fresh grant that lets guests start: refused (%s)", why)
	}
	now = 12 * time.Second // the grant for the report at 2 s ends at 12 s
	if ok, _ := ask(); ok {
		t.Fatal("a guest started after the grant ended")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ok, why := ask(); ok || !strings.Contains(why, "no answer from the vigil agent") {
		t.Fatalf("with no agent: %v %q; want a refusal (the gate fails closed)", ok, why)
	}
}

func TestGateInstalledReadsTheHook(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script string
		mode         os.FileMode
		want         bool
	}{
		{"the documented hook", "#!/bin/sh\nexec /usr/local/bin/vigil gate --socket /var/lib/vigil-agent/gate.sock -- \"$@\"\n", 0o755, true},
		{"not executable", "#!/bin/sh\nexec vigil gate \"$@\"\n", 0o644, false},
		{"another hook", "#!/bin/sh\nlogger \"$@\"\n", 0o755, false},
		{"vigil gate commented out", "#!/bin/sh\n# exec vigil gate \"$@\"\nexit 0\n", 0o755, false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(p, []byte(tc.script), tc.mode); err != nil {
			t.Fatal(err)
		}
		if got := GateInstalled(p); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if GateInstalled(filepath.Join(dir, "missing")) {
		t.Error("a missing hook counts as installed")
	}
}
