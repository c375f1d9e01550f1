package redfishbmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fenceRedfish finds Debian's fence_redfish. The test runs only with
// VIGIL_INTEGRATION=1, and then a missing agent is a failure.
func fenceRedfish(t *testing.T) string {
	t.Helper()
	if os.Getenv("VIGIL_INTEGRATION") != "1" {
		t.Skip("integration test: set VIGIL_INTEGRATION=1 to drive the BMC with Debian's fence_redfish")
	}
	for _, p := range []string{"fence_redfish", "/usr/sbin/fence_redfish"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("VIGIL_INTEGRATION=1 but fence_redfish is not installed (scripts/install-deps.sh integration installs fence-agents)")
	return ""
}

// runAgent runs fence_redfish with its options on stdin, so the password is
// never in argv, and returns its exit code and output.
func runAgent(ctx context.Context, bin string, b *BMC, password, action string) (int, string, error) {
	opts := fmt.Sprintf("ip=127.0.0.1\nipport=%d\nusername=%s\npassword=%s\nssl_insecure=1\naction=%s\n",
		b.Port(), b.cfg.Username, password, action)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdin = bytes.NewBufferString(opts)
	// Loopback must never go through a proxy from the environment.
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), nil
	}
	if err != nil {
		return -1, out.String(), err
	}
	return 0, out.String(), nil
}

// TestFenceRedfish proves the BMC speaks real Redfish: fence-agents'
// fence_redfish reads status (exit 0 on, 2 off), powers off and on, and the
// power hook sees exactly the changes.
func TestFenceRedfish(t *testing.T) {
	bin := fenceRedfish(t)
	h := &hookLog{}
	cfg := DefaultConfig()
	cfg.Power = h.power
	cfg.Settle = 300 * time.Millisecond // make the agent poll through PoweringOff
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	steps := []struct {
		action string
		wantRC int
		wantOn bool
	}{
		{"status", 0, true},
		{"off", 0, false},
		{"status", 2, false},
		{"off", 0, false}, // already off: success, no second hook call
		{"on", 0, true},
		{"status", 0, true},
	}
	for i, s := range steps {
		start := time.Now()
		rc, out, err := runAgent(ctx, bin, b, cfg.Password, s.action)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, s.action, err)
		}
		t.Logf("fence_redfish -o %s: rc %d in %v", s.action, rc, time.Since(start).Round(time.Millisecond))
		if rc != s.wantRC {
			t.Errorf("step %d %s: exit %d, want %d; output:\n%s", i, s.action, rc, s.wantRC, out)
		}
		if b.PoweredOn() != s.wantOn {
			t.Errorf("step %d %s: powered on %v, want %v", i, s.action, b.PoweredOn(), s.wantOn)
		}
	}
	if diff := cmp.Diff([]bool{false, true}, h.seen()); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}

	rc, out, err := runAgent(ctx, bin, b, "wrong-"+cfg.Password, "off")
	if err != nil {
		t.Fatal(err)
	}
	if rc == 0 || rc == 2 || !b.PoweredOn() {
		t.Errorf("wrong password: exit %d, powered on %v; want a failure exit and power untouched; output:\n%s",
			rc, b.PoweredOn(), out)
	}
	if bytes.Contains([]byte(out), []byte(cfg.Password)) {
		t.Errorf("agent output contains the password")
	}
	t.Logf("wrong password: exit %s", strconv.Itoa(rc))
}
