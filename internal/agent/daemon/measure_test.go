package daemon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/vigilbin"
)

// TestMeasureAgentCost measures one `vigil agent` process's CPU and memory
// with its peer pools running (default settings, two networks) and
// without (pools.enabled: false), among four agents reporting to an
// in-process controller on loopback: VIGIL_MEASURE=1 go test -count=1 -v
// -run TestMeasureAgentCost ./internal/agent/daemon/ (docs/performance.md).
func TestMeasureAgentCost(t *testing.T) {
	if os.Getenv("VIGIL_MEASURE") != "1" {
		t.Skip("a measurement: VIGIL_MEASURE=1")
	}
	bin := vigilbin.Path(t)
	t.Cleanup(vigilbin.Remove)
	l := newLab(t, "cmp1", "cmp2", "cmp3", "cmp4")
	span := 60 * time.Second
	for _, tc := range []struct{ name, extra string }{
		{"pools on", ""},
		{"pools off", "pools: {enabled: false}\n"},
	} {
		var cmds []*exec.Cmd
		for i := 1; i <= 4; i++ {
			l.agent(i, tc.extra) // writes the key file
			path := filepath.Join(l.dir, fmt.Sprintf("cmp%d.yaml", i))
			if err := os.WriteFile(path, []byte(l.agentFile(i, tc.extra)), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "agent", "--config", path)
			log, err := os.Create(filepath.Join(l.dir, fmt.Sprintf("cmp%d-%s.log", i, strings.ReplaceAll(tc.name, " ", "-"))))
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = log, log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		time.Sleep(15 * time.Second) // started, joined, granted
		pid := cmds[0].Process.Pid
		cpu0, _ := cpuTicks(t, pid)
		start := time.Now()
		var rssMax int
		for time.Since(start) < span {
			time.Sleep(time.Second)
			_, rss := cpuTicks(t, pid)
			rssMax = max(rssMax, rss)
		}
		cpu1, rss := cpuTicks(t, pid)
		secs := time.Since(start).Seconds()
		t.Logf("%s: cmp1's agent used %.1f ms of CPU a second (%.2f %% of a core) over %.0f s; RSS %d KiB (at most %d)",
			tc.name, float64(cpu1-cpu0)*10/secs, float64(cpu1-cpu0)/secs, secs, rss, rssMax)
		for _, c := range cmds {
			_ = c.Process.Signal(os.Interrupt)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
}

// agentFile is what l.agent parses, as text, for a process.
func (l *lab) agentFile(i int, extra string) string {
	h := l.hosts[i-1]
	next := i%len(l.hosts) + 1
	var nets strings.Builder
	for n, name := range []string{"mgmt", "storage"} {
		fmt.Fprintf(&nets, "  - {name: %s, listen: %q, controllers: [%q], peers: [{host: %s, addr: %q}]}\n",
			name, l.addr(n+1, i, 7701), l.addr(n+1, 100, 7700), l.hosts[next-1], l.addr(n+1, next, 7701))
	}
	return fmt.Sprintf(`host: %s
networks:
%skey_file: %s
state_dir: %s
services:
  nova_compute: {process: vigil-no-nova}
  libvirtd: {process: vigil-no-libvirtd}
libvirt: {socket: %s}
heartbeat: {dir: %s}
%s`, h, nets.String(), filepath.Join(l.dir, h+".key"), filepath.Join(l.dir, h+"-state"), filepath.Join(l.dir, "no-libvirt-sock"), filepath.Join(l.dir, "heartbeats"), extra)
}

// cpuTicks is pid's user and system CPU in clock ticks (1/100 s) and its
// resident memory in KiB.
func cpuTicks(t *testing.T, pid int) (ticks int, rssKiB int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKiB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return ut + st, rssKiB
}
