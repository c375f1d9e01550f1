package devices_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/devices"
)

// A fence-agent device may be given up to config's 10 minutes per attempt;
// Build once made the agent's RunTimeout longer than its OffTimeout, which
// the agent driver rejects, for any timeout over 60 s.
func TestBuildFenceAgentWithLongTimeout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fence_vigiltest"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, timeout := range []string{"20s", "90s", "10m"} {
		cfg, err := config.Parse([]byte(`
hosts:
  - name: cmp1
    bmc: {address: 10.0.0.11}
    fencing:
      levels:
        - [{driver: fence-agent, agent: fence_vigiltest, username: admin, password_env: PW, timeout: ` + timeout + `}]
`))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Fatal(err)
		}
		sec := devices.Secrets{Getenv: func(string) string { return "secret" }, ReadFile: os.ReadFile}
		if _, err := devices.Build(cfg, "cmp1", sec, devices.Options{}, nil); err != nil {
			t.Errorf("timeout %s: Build() = %v", timeout, err)
		}
	}
}

// answersOnce is a probe whose first pings (the baseline before the fence and
// the first one after it) get a reply and whose later ones are still in
// flight when the probe's deadline kills them.
type answersOnce struct{ calls int }

func (p *answersOnce) Answers(ctx context.Context) (bool, string, error) {
	p.calls++
	if p.calls <= 2 {
		return true, "10.20.0.11 replies to ping", nil
	}
	<-ctx.Done()
	return false, "", ctx.Err()
}

type offDevice struct{}

func (offDevice) Off(context.Context) (fence.Proof, error) {
	return fence.Proof{Driver: "redfish", Detail: "PowerState read Off"}, nil
}
func (offDevice) On(context.Context) error                     { return nil }
func (offDevice) Status(context.Context) (fence.Status, error) { return fence.StatusOff, nil }

// A ping killed by the probe's own deadline is not an observation: the
// level must fail saying the host still answers (what the integration test
// of a lying BMC saw), not "cannot probe the host".
func TestProbeCutByDeadlineReportsTheHostStillAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		topo := fence.Topology{
			Host:      "cmp1",
			Levels:    [][]fence.Member{{{Name: "redfish", Driver: "redfish", Device: offDevice{}, Power: true}}},
			Probe:     &answersOnce{},
			ProbeWait: time.Second,
		}
		_, err := topo.OffLevel(context.Background(), 1, nil)
		if !errors.Is(err, fence.ErrNotVerified) || !strings.Contains(err.Error(), "still answers: 10.20.0.11 replies to ping") {
			t.Errorf("OffLevel() = %v, want ErrNotVerified saying 10.20.0.11 still answers", err)
		}
	})
}
