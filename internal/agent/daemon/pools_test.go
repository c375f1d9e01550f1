package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/testbed/ctlbed"
	"github.com/vigil-ha/vigil/internal/wire"
)

// lab is agents' files against one in-process controller.
type lab struct {
	t      *testing.T
	dir    string
	r      byte
	secret wire.Secret
	ctl    *ctlbed.Controller
	hosts  []string
}

func (l *lab) addr(net, x, port int) string { return fmt.Sprintf("127.%d.%d.%d:%d", l.r, net, x, port) }

func newLab(t *testing.T, hosts ...string) *lab {
	l := &lab{t: t, dir: t.TempDir(), r: byte(10 + rand.IntN(240)), hosts: hosts}
	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	l.secret = s
	keys, err := wire.NewClusterKeys([]wire.Secret{s}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	acfg := agentnet.DefaultConfig()
	for i, n := range []string{"mgmt", "storage"} {
		acfg.Networks = append(acfg.Networks, agentnet.Network{Name: n, Listen: l.addr(i+1, 100, 7700)})
	}
	l.ctl = ctlbed.Start(t, hosts, decision.DefaultConfig(), acfg, keys, ctlbed.NewMemStore(), 1)
	return l
}

// agent is host i's (from 1) configuration and keys: on both networks,
// its next host as its peer (whose pool it joins through), extra added
// at the top level.
func (l *lab) agent(i int, extra string) (config.AgentFile, wire.HostKeys) {
	t := l.t
	h := l.hosts[i-1]
	kb, err := wire.FormatHostKeys([]wire.Secret{l.secret}, h)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(l.dir, h+".key")
	if err := os.WriteFile(keyFile, kb, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(l.dir, "heartbeats"), 0o755)
	file := l.agentFile(i, extra)
	cfg, err := config.ParseAgentFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	hk, err := wire.LoadHostKeys(keyFile, h)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, hk
}

func (l *lab) run(i int, cfg config.AgentFile, hk wire.HostKeys) (stop func()) {
	boot := filepath.Join(l.dir, fmt.Sprintf("boot%d", i))
	if err := os.WriteFile(boot, fmt.Appendf(nil, "0b5e6c4a-2f7d-4e1b-9c3a-1d2e3f4a5b6%d\n", i), 0o644); err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, hk, Paths{BootID: boot}, slog.New(slog.DiscardHandler)) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			l.t.Errorf("%s did not stop", cfg.Host)
		}
	}
	l.t.Cleanup(stop)
	return stop
}

// Three agent processes' pools, as `vigil agent` runs them at default
// settings: each joins through its next host, and the engine hears, for
// every host on both networks, a peer that reached it within the last
// report intervals (decision.Seen). An agent stopped cleanly leaves the
// pools: no peer reaches it any more.
func TestAgentsReportTheirPeers(t *testing.T) {
	l := newLab(t, "cmp1", "cmp2", "cmp3")
	var stops []func()
	for i := 1; i <= 3; i++ {
		cfg, hk := l.agent(i, "")
		stops = append(stops, l.run(i, cfg, hk))
	}
	peerSeen := func() (map[string][]time.Time, time.Time, error) {
		st, err := l.ctl.Runner.Status(context.Background())
		if err != nil {
			return nil, time.Time{}, err
		}
		out := map[string][]time.Time{}
		var at time.Time
		for _, s := range st {
			at = s.Seen.At
			for _, n := range s.Seen.Networks {
				out[s.Name] = append(out[s.Name], n.Peer)
			}
		}
		return out, at, nil
	}
	ctlbed.Eventually(t, 20*time.Second, "every host reached by a peer on both networks", func() error {
		seen, at, err := peerSeen()
		if err != nil {
			return err
		}
		for _, h := range l.hosts {
			if len(seen[h]) != 2 {
				return fmt.Errorf("%s: %v", h, seen[h])
			}
			for _, p := range seen[h] {
				if p.IsZero() || at.Sub(p) > 2*time.Second {
					return fmt.Errorf("%s last reached by a peer at %v (now %v)", h, p, at)
				}
			}
		}
		return nil
	})

	stops[2]() // cmp3 stops cleanly, and leaves its pools
	time.Sleep(3 * time.Second)
	seen, at, err := peerSeen()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range seen["cmp3"] {
		if at.Sub(p) < 2*time.Second {
			t.Errorf("cmp3, stopped, reached by a peer %v ago", at.Sub(p))
		}
	}
	for _, h := range []string{"cmp1", "cmp2"} {
		for _, p := range seen[h] {
			if at.Sub(p) > 2*time.Second {
				t.Errorf("%s last reached by a peer %v ago", h, at.Sub(p))
			}
		}
	}
}

// A pool port the agent cannot bind stops it at start, naming the field;
// an agent whose key file holds no pool key (written before the pools)
// runs without them.
func TestPoolStartErrors(t *testing.T) {
	l := newLab(t, "cmp1", "cmp2")
	cfg, hk := l.agent(1, "")
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Networks[1].PoolAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	boot := filepath.Join(l.dir, "boot")
	_ = os.WriteFile(boot, []byte("0b5e6c4a-2f7d-4e1b-9c3a-1d2e3f4a5b6c\n"), 0o644)
	err = Run(context.Background(), cfg, hk, Paths{BootID: boot}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "networks[1].pool.port") || !strings.Contains(err.Error(), cfg.Networks[1].PoolAddr().String()) {
		t.Fatalf("err = %v; want it to name networks[1].pool.port and its address", err)
	}

	old := filepath.Join(l.dir, "old.key")
	kb, _ := wire.FormatHostKeys([]wire.Secret{l.secret}, "cmp1")
	var lines []string
	for _, line := range strings.Split(string(kb), "\n") {
		if !strings.HasPrefix(line, "vigil-pool-key") {
			lines = append(lines, line)
		}
	}
	if err := os.WriteFile(old, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ohk, err := wire.LoadHostKeys(old, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	pools, err := startPools(cfg, ohk, slog.New(slog.DiscardHandler))
	if err != nil || len(pools) != 0 {
		t.Fatalf("a key file without a pool key: %d pools, %v; want none, no error", len(pools), err)
	}
}
