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

// buildHost parses a configuration with one host whose levels are given in
// YAML and builds its topology, with fence agents looked up in dir.
func buildHost(t *testing.T, dir, levels string, files map[string]string) fence.Topology {
	t.Helper()
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cfg, err := config.Parse([]byte("hosts:\n  - name: cmp1\n    bmc: {address: 10.0.0.11}\n    storage_ips: [10.20.0.11]\n    fencing:\n      levels:\n" + levels))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	sec := devices.Secrets{Getenv: func(string) string { return "secret" }, ReadFile: func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return os.ReadFile(p)
	}}
	topo, err := devices.Build(cfg, "cmp1", sec, devices.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// recordingAgent writes a fence agent that records its stdin in dir/name.stdin
// and reports the power on.
func recordingAgent(t *testing.T, dir, name string) {
	t.Helper()
	script := "#!/bin/sh\ncat >" + filepath.Join(dir, name+".stdin") + "\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The 20 s default attempt timeout once capped every driver's own, longer
// bound (a fence agent's 60 s Off, ipmi's 30 s) without a word. Without a
// timeout the attempt adds no bound of its own; an explicit one is exact.
func TestBuildTimeoutDoesNotCapTheDriver(t *testing.T) {
	dir := t.TempDir()
	recordingAgent(t, dir, "fence_vigiltest")
	topo := buildHost(t, dir, `        - [{driver: fence-agent, agent: fence_vigiltest}, {driver: ipmi, username: admin, password_env: PW}]
        - [{driver: ipmi, username: admin, password_env: PW, timeout: 45s}]
`, nil)
	for _, m := range topo.Levels[0] {
		if m.Timeout != 0 {
			t.Errorf("%s: attempt timeout %v, want none (the driver's own bound)", m.Name, m.Timeout)
		}
	}
	if m := topo.Levels[1][0]; m.Timeout != 45*time.Second {
		t.Errorf("%s: attempt timeout %v, want the configured 45s", m.Name, m.Timeout)
	}
}

// fence_scsi leaves the host running: its level must not be ping-probed as
// a power fence; a PDU agent is one.
func TestBuildFenceAgentKind(t *testing.T) {
	dir := t.TempDir()
	recordingAgent(t, dir, "fence_scsi")
	recordingAgent(t, dir, "fence_apc_snmp")
	topo := buildHost(t, dir, `        - [{driver: fence-agent, agent: fence_scsi, kind: storage, options: {devices: /dev/sdb}}]
        - [{driver: fence-agent, agent: fence_apc_snmp, address: pdu1, options: {plug: "7"}}]
`, nil)
	if topo.Levels[0][0].Power || !topo.Levels[1][0].Power {
		t.Errorf("Power = %t (fence_scsi), %t (fence_apc_snmp); want false, true", topo.Levels[0][0].Power, topo.Levels[1][0].Power)
	}
}

// fence_ipmilan through the agent driver speaks IPMI 2.0 (lanplus, cipher
// 3) unless told otherwise, and gets its K_g from secret_files, on stdin.
func TestBuildIPMILanDefaultsAndSecretFiles(t *testing.T) {
	dir := t.TempDir()
	recordingAgent(t, dir, "fence_ipmilan")
	topo := buildHost(t, dir, `        - [{driver: fence-agent, agent: fence_ipmilan, username: admin, password_env: PW, secret_files: {hexadecimal_kg: /etc/vigil/bmc.kg}}]
`, map[string]string{"/etc/vigil/bmc.kg": "0011aabb\n"})
	topo.Check(context.Background())
	stdin, err := os.ReadFile(filepath.Join(dir, "fence_ipmilan.stdin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"lanplus=1\n", "cipher=3\n", "hexadecimal_kg=0011aabb\n", "password=secret\n"} {
		if !strings.Contains(string(stdin), line) {
			t.Errorf("fence_ipmilan's stdin lacks %q:\n%s", line, stdin)
		}
	}
}

// Two hosts behind one PDU share its slot; their BMCs do not.
func TestBuildSharesSlotsOfOneDevice(t *testing.T) {
	cfg, err := config.Parse([]byte(`
fencing:
  domains:
    default:
      levels:
        - [{driver: ipmi, username: admin, password_env: PW}]
        - [{driver: redfish, endpoint: "https://chassis1", system: "1", username: admin, password_env: PW}]
hosts:
  - {name: cmp1, bmc: {address: 10.0.0.11}}
  - {name: cmp2, bmc: {address: 10.0.0.12}}
`))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	sec := devices.Secrets{Getenv: func(string) string { return "secret" }, ReadFile: os.ReadFile}
	opts := devices.Options{Slots: &fence.Slots{}}
	a, err1 := devices.Build(cfg, "cmp1", sec, opts, nil)
	b, err2 := devices.Build(cfg, "cmp2", sec, opts, nil)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if a.Levels[0][0].Slot == b.Levels[0][0].Slot {
		t.Error("two hosts' own BMCs share a slot")
	}
	if a.Levels[1][0].Slot != b.Levels[1][0].Slot || a.Levels[1][0].Slot == nil {
		t.Error("two hosts' shared chassis manager has two slots")
	}
}
