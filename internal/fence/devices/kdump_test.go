package devices_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/devices"
	"github.com/vigil-ha/vigil/internal/fence/kdump"
)

// kdumpPort is in the kdump package's test range (17410-17419).
const kdumpPort = "17418"

// kdumpConfig's kdump level has the storage fence config requires beside
// it: fence_scsi (buildable without -tags pacific, unlike ceph-blocklist),
// a stand-in written by storageAgent.
const kdumpConfig = `
fencing:
  domains:
    default:
      levels:
        - - {driver: kdump, listen: "[::]:` + kdumpPort + `", timeout: 10s}
          - {driver: fence-agent, agent: fence_scsi, kind: storage, timeout: 2s, power_wait: 100ms}
        - [{driver: ipmi, username: admin, password_env: PW}]
hosts:
  - {name: cmp1, bmc: {address: 10.0.0.11}, kdump_ips: [127.0.0.1]}
  - {name: cmp2, bmc: {address: 10.0.0.12}, kdump_ips: ["::1"]}
`

func buildKdump(t *testing.T, opts devices.Options, hosts ...string) []fence.Topology {
	t.Helper()
	storageAgent(t)
	cfg, err := config.Parse([]byte(kdumpConfig))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	sec := devices.Secrets{Getenv: func(string) string { return "secret" }, ReadFile: os.ReadFile}
	var out []fence.Topology
	for _, h := range hosts {
		topo, err := devices.Build(cfg, h, sec, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, topo)
	}
	return out
}

// A kdump device is not a power fence: its level (kdump and a storage
// fence) is not ping-probed (a kdump kernel may answer ping), and its
// timeout is the configured wait.
func TestBuildKdump(t *testing.T) {
	topo := buildKdump(t, devices.Options{}, "cmp1")[0]
	m := topo.Levels[0][0]
	if m.Driver != "kdump" || m.Power || m.Name != "kdump 127.0.0.1" || m.Timeout != 10*time.Second {
		t.Errorf("level 1 = %+v, want a kdump member for 127.0.0.1, not a power fence, 10s", m)
	}
	if topo.Levels[0][1].Power {
		t.Error("level 1's fence_scsi is a power fence")
	}
	if !topo.Levels[1][0].Power {
		t.Error("level 2 (ipmi) is not a power fence")
	}
}

// Two hosts dumping at once, built with one Options.Kdump, both hear their
// own message on the one listen address; with a Receiver each, the second
// could not even listen.
func TestBuildKdumpHostsShareTheSocket(t *testing.T) {
	opts := devices.Options{Kdump: kdump.NewReceiver(nil)}
	topos := buildKdump(t, opts, "cmp1", "cmp2")
	type result struct {
		host string
		out  fence.Outcome
		err  error
	}
	done := make(chan result, len(topos))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topo := range topos {
		go func() {
			out, err := topo.OffLevel(ctx, 1, nil)
			done <- result{topo.Host, out, err}
		}()
	}
	// Each host's kdump kernel repeats its message until the fences end,
	// as fence_kdump_send does (every 10 s there, every 20 ms here).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	want := map[string]string{"cmp1": "127.0.0.1:", "cmp2": "[::1]:"}
	for range topos {
		var r result
	wait:
		for {
			select {
			case r = <-done:
				break wait
			case <-tick.C:
				sendFrom(t, "127.0.0.1", "cmp1")
				sendFrom(t, "::1", "cmp2")
			}
		}
		if r.err != nil {
			t.Fatalf("%s: OffLevel(1) = %v", r.host, r.err)
		}
		if p := r.out.Proofs[0].Kdump; p == nil || !strings.HasPrefix(p.From, want[r.host]) {
			t.Errorf("%s: proof %v, want a message from %s", r.host, r.out.Proofs, want[r.host])
		}
	}
}

// storageAgent puts on PATH a fence_scsi stand-in that unregisters at once:
// off succeeds and status then reports off (exit 2), as fence_scsi does.
func storageAgent(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\nwhile read -r l; do [ \"$l\" = action=status ] && s=1; done\n[ -n \"$s\" ] && exit 2\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "fence_scsi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// sendFrom sends a fence_kdump message from ip to the listen port on ip.
func sendFrom(t *testing.T, ip, host string) {
	t.Helper()
	to := netip.MustParseAddrPort(net.JoinHostPort(ip, kdumpPort))
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	defer c.Close()
	_, _ = c.Write([]byte{0x40, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00}) // ECONNREFUSED before the socket is up
}
