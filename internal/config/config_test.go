package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/decision"
)

// base is a small valid configuration that the tests change one key at a time.
const base = `
fencing:
  domains:
    default:
      levels:
        - [{driver: ipmi, username: admin, password_file: /etc/vigil/bmc.pass}]
hosts:
  - name: cmp1
    bmc: {address: 10.0.0.11}
    storage_ips: [10.20.0.11]
  - name: cmp2
    bmc: {address: 10.0.0.12}
    storage_ips: [10.20.0.12]
`

func mustParse(t *testing.T, s string) config.Config {
	t.Helper()
	c, err := config.Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func validBase(t *testing.T) config.Config {
	t.Helper()
	c := mustParse(t, base)
	if err := c.Validate(); err != nil {
		t.Fatalf("base config does not validate: %v", err)
	}
	return c
}

// The defaults written in this package must be the decision engine's.
func TestDefaultMatchesDecision(t *testing.T) {
	got := config.Default().Decision()
	want := decision.DefaultConfig()
	// The engine's own default leaves the agents' timeouts unchecked (an
	// engine built by hand); the configuration always says them, self
	// fencing or not: grants carry them.
	want.IsolationTimeout, want.WatchdogTimeout = 10*time.Second, 10*time.Second
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(decision.Config{}, "FenceLevels")); diff != "" {
		t.Errorf("Default().Decision() differs from decision.DefaultConfig() (-want +got):\n%s", diff)
	}
}

func TestDefaultSelfFenceIsSafe(t *testing.T) {
	c := validBase(t)
	c.SelfFence.Enabled = true
	if err := c.Validate(); err != nil {
		t.Errorf("defaults with self_fence.enabled: %v", err)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		c := mustParse(t, in)
		if diff := cmp.Diff(config.Default(), c); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", in, diff)
		}
		if err := c.Validate(); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("Parse(%q).Validate() = %v, want ErrInvalid (no hosts)", in, err)
		}
	}
}

func TestKeysLeftOutKeepDefaults(t *testing.T) {
	c := mustParse(t, "detection: {dead_after: 8s}\nbrake: {max_hosts: 4}\nself_fence: {enabled: true, assume_dead_after: ~}\n")
	want := config.Default()
	want.Detection.DeadAfter = config.Duration(8 * time.Second)
	want.Brake.MaxHosts = 4
	want.SelfFence.Enabled = true
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDecisionMapping(t *testing.T) {
	c := validBase(t)
	c.Hosts[1].Fencing.Levels = [][]config.Device{
		{{Driver: "ipmi", Username: "a", PasswordEnv: "P"}},
		{{Driver: "ceph-blocklist"}},
		{{Driver: "fence-agent", Agent: "fence_ipmilan"}},
	}
	c.SelfFence.AssumeDeadAfter = config.Duration(90 * time.Second)
	d := c.Decision()
	if d.FenceLevels != 3 {
		t.Errorf("FenceLevels = %d, want 3 (the most any host has)", d.FenceLevels)
	}
	if d.SelfFenceAfter != 0 {
		t.Errorf("SelfFenceAfter = %v with self_fence disabled, want 0", d.SelfFenceAfter)
	}
	c.SelfFence.Enabled = true
	if d := c.Decision(); d.SelfFenceAfter != 90*time.Second {
		t.Errorf("SelfFenceAfter = %v, want 90s", d.SelfFenceAfter)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadNamesLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yaml")
	// dead_after is on line 4 of this file (after base's leading newline).
	if err := os.WriteFile(path, []byte("\ndetection:\n  agent_timeout: 3s\n  dead_after: 2s\n"+base), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	var e *config.Error
	if !errors.As(err, &e) || e.Path != "detection.dead_after" || e.Line != 4 {
		t.Fatalf("Load = %v, want an *Error at detection.dead_after line 4", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "(line 4)") {
		t.Errorf("error %q should name the file and the line", err)
	}

	// A key the file leaves out is reported at its nearest ancestor.
	if err := os.WriteFile(path, []byte(base+"  - name: cmp3\n    storage_ips: [10.20.0.13]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(path)
	if !errors.As(err, &e) || e.Path != "hosts[2].bmc.address" || e.Line != 14 {
		t.Fatalf("Load = %v, want an *Error at hosts[2].bmc.address reported at line 14", err)
	}

	if _, err := config.Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestExampleLoads(t *testing.T) {
	c, err := config.Load("../../examples/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.SelfFence.Enabled || len(c.Hosts) != 4 {
		t.Errorf("example parsed as %v", c)
	}
	for _, h := range c.Hosts {
		if _, err := c.Levels(h.Name); err != nil {
			t.Errorf("Levels(%s): %v", h.Name, err)
		}
	}
}

func TestStringHidesSecretOptions(t *testing.T) {
	c := mustParse(t, base+`    fencing:
      levels:
        - [{driver: fence-agent, agent: fence_apc_snmp, options: {plug: "3", community: hunter2, snmp_priv_passwd: hunter3}}]
`)
	s := c.String()
	for _, secret := range []string{"hunter2", "hunter3"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() shows %q:\n%s", secret, s)
		}
	}
	if !strings.Contains(s, `plug: "3"`) {
		t.Errorf("String() lost a plain option:\n%s", s)
	}
	if c.Hosts[1].Fencing.Levels[0][0].Options["community"] != "hunter2" {
		t.Error("Redacted changed the original config")
	}
	if d := c.Hosts[1].Fencing.Levels[0][0].String(); strings.Contains(d, "hunter") {
		t.Errorf("Device.String() = %q shows a secret", d)
	}
	if err := c.Validate(); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Validate() = %v, want the inline secret option rejected", err)
	}
}

// With self-fencing on, the engine is told the agents' timeouts the safe
// time assumes, and counts no watchdog whose agent reports longer ones.
func TestSelfFenceTimeoutsReachTheEngine(t *testing.T) {
	c := validBase(t)
	c.SelfFence.Enabled = true
	d := c.Decision()
	if d.IsolationTimeout != c.SelfFence.IsolationTimeout.Std() || d.WatchdogTimeout != c.SelfFence.WatchdogTimeout.Std() || d.IsolationTimeout == 0 {
		t.Fatalf("engine timeouts %v/%v, want self_fence's %v/%v", d.IsolationTimeout, d.WatchdogTimeout, c.SelfFence.IsolationTimeout, c.SelfFence.WatchdogTimeout)
	}
}
