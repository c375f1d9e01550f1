package hostlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// The agents' peer pools on namespaces, at default settings: every host
// is reached by a peer on both networks. host1's agent, cut from the
// controllers (and from relaying) but not from its peers, is judged
// service-degraded "agent-silent-peers-reach" with the peers' word as the
// evidence; once its agent is SIGSTOPped (hung: its kernel still holds
// its sockets) no peer reaches it any more, and it is judged failed with
// "no peer reaches it on any network", and fenced.
func TestPeersJudgeACutAndAStoppedAgent(t *testing.T) {
	l := Start(t, Config{})
	c := l.StartController()
	for _, h := range l.Hosts {
		l.WaitState(h, 60*time.Second, "healthy")
	}
	c.AfterGrace()
	tier.Eventually(t, 20*time.Second, "a peer reaches every host on both networks", func() error {
		seen, err := l.seen()
		if err != nil {
			return err
		}
		for _, h := range l.Hosts {
			if len(seen[h].Networks) != 2 {
				return fmt.Errorf("%s: %+v", h, seen[h])
			}
			for _, n := range seen[h].Networks {
				if n.Peer.IsZero() || seen[h].At.Sub(n.Peer) > 2*time.Second {
					return fmt.Errorf("%s on %s: last reached by a peer at %v, now %v", h, n.Name, n.Peer, seen[h].At)
				}
			}
		}
		return nil
	})

	ctx := context.Background()
	for _, port := range []int{ControllerPort, AgentPort} { // to the controllers, and to the peers that would relay
		if out, err := l.Net.Command(ctx, 1, "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", strconv.Itoa(port), "-j", "DROP").CombinedOutput(); err != nil {
			t.Fatalf("iptables: %v: %s", err, out)
		}
	}
	cut := time.Now()
	degraded := l.WaitState("host1", 30*time.Second, "service-degraded")
	ev := l.Events("host1")
	t.Logf("host1 cut from the controllers at %s → service-degraded after %v; its events:\n%s", cut.Format("15:04:05.000"), degraded.Sub(cut).Round(10*time.Millisecond), ev)
	if !strings.Contains(ev, "agent-silent-peers-reach") || !strings.Contains(ev, "peers reach it on mgmt (by host") || !strings.Contains(ev, "storage (by host") {
		t.Errorf("host1's events do not judge it by its peers on both networks")
	}

	pid := l.agentPID(1)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	failed := l.WaitState("host1", 30*time.Second, "failed", "fencing", "fenced", "recovering", "recovered")
	fenced := l.WaitState("host1", 60*time.Second, "fenced", "recovering", "recovered")
	ev = l.Events("host1")
	t.Logf("host1's agent (pid %d) SIGSTOPped at %s → failed after %v, fenced after %v; its events:\n%s", pid, stopped.Format("15:04:05.000"),
		failed.Sub(stopped).Round(10*time.Millisecond), fenced.Sub(stopped).Round(10*time.Millisecond), ev)
	var judged string
	for _, line := range strings.Split(ev, "\n") {
		if strings.Contains(line, "→failed") {
			judged = line
		}
	}
	if !strings.Contains(judged, "no peer reaches it on any network") {
		t.Errorf("host1 failed without the peers' word: %q", judged)
	}
	for _, h := range []string{"host0", "host2"} {
		if e := l.Events(h); strings.Contains(e, "→failed") || strings.Contains(e, "→suspect") {
			t.Errorf("%s: %s", h, e)
		}
	}
}

// seen is every host's Seen as the API's status shows it.
func (l *Lab) seen() (map[string]api.Seen, error) {
	b, err := l.get("/v1/status")
	if err != nil {
		return nil, err
	}
	var st []api.HostStatus
	if err := json.Unmarshal(b, &st); err != nil {
		var wrapped struct {
			Hosts []api.HostStatus `json:"hosts"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			return nil, fmt.Errorf("status: %w: %s", err, b)
		}
		st = wrapped.Hosts
	}
	out := map[string]api.Seen{}
	for _, s := range st {
		out[s.Name] = s.Seen
	}
	return out, nil
}

// agentPID is the pid of host i's vigil agent process: the one whose
// command line names its agent file.
func (l *Lab) agentPID(i int) int {
	l.t.Helper()
	want := []byte(l.path(l.Hosts[i] + ".yaml"))
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmd, "\x00"), []byte{0})
		if len(args) >= 4 && string(args[1]) == "agent" && bytes.Equal(args[3], want) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	l.t.Fatalf("no agent process of %s", l.Hosts[i])
	return 0
}
