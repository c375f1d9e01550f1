package hostlab_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/hostlab"
	"github.com/vigil-ha/vigil/internal/testbed/swarm"
)

// TestMeasureAgentCost reports what each real agent process costs at the
// default report interval on a healthy three-host lab: CPU over 30 s and
// resident memory (docs/performance.md). A measurement, not a check: it
// runs only with VIGIL_MEASURE=1.
func TestMeasureAgentCost(t *testing.T) {
	if os.Getenv("VIGIL_MEASURE") != "1" {
		t.Skip("a measurement: VIGIL_MEASURE=1 VIGIL_INTEGRATION=1")
	}
	l := hostlab.Start(t, hostlab.Config{})
	c := l.StartController()
	for _, h := range l.Hosts {
		l.WaitState(h, 60*time.Second, "healthy")
	}
	c.AfterGrace()
	pids := map[string]int{}
	for _, h := range l.Hosts {
		pids[h] = agentPID(t, h)
	}
	const window = 30 * time.Second
	before := map[string]time.Duration{}
	for h, pid := range pids {
		d, err := swarm.ProcessCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		before[h] = d
	}
	time.Sleep(window)
	for _, h := range l.Hosts {
		d, err := swarm.ProcessCPU(pids[h])
		if err != nil {
			t.Fatal(err)
		}
		rss, hwm := statusKB(t, pids[h], "VmRSS"), statusKB(t, pids[h], "VmHWM")
		t.Logf("%s's agent (pid %d): %.2f %% of a core over %v, RSS %d KiB (peak %d KiB)",
			h, pids[h], 100*(d-before[h]).Seconds()/window.Seconds(), window, rss, hwm)
	}
}

// agentPID finds host's agent process: `vigil agent --config …/HOST.yaml`.
func agentPID(t *testing.T, host string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 4 && args[1] == "agent" && args[2] == "--config" && strings.HasSuffix(args[3], "/"+host+".yaml") {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	t.Fatalf("no agent process of %s", host)
	return 0
}

func statusKB(t *testing.T, pid int, key string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == key {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
