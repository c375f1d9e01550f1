package swarm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/heartbeat"
	"github.com/vigil-ha/vigil/internal/testbed/ctlbed"
	"github.com/vigil-ha/vigil/internal/testbed/swarm"
	"github.com/vigil-ha/vigil/internal/wire"
)

func TestHistogramQuantiles(t *testing.T) {
	var a, b swarm.Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		if i%2 == 0 {
			a.Add(d)
		} else {
			b.Add(d)
		}
	}
	a.Merge(b)
	if a.N != 1000 || a.Max != int64(time.Second) {
		t.Fatalf("merged: n %d max %v, want 1000 and 1s", a.N, time.Duration(a.Max))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := a.Quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.025 {
			t.Errorf("quantile %v = %v, want within 2.5 %% above %v", c.q, got, c.want)
		}
	}
	if (swarm.Histogram{}).Quantile(0.5) != 0 {
		t.Error("an empty histogram's median is not 0")
	}
}

// TestFleetIsGranted runs a small fleet of two processes against an
// in-process controller on loopback: every host's reports on both networks
// are granted in the controller's term, and the latencies are counted.
func TestFleetIsGranted(t *testing.T) {
	const hosts = 20
	dir := t.TempDir()
	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "cluster.secret")
	if err := os.WriteFile(secrets, wire.FormatSecrets([]wire.Secret{s}), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range hosts {
		names = append(names, swarm.Name(i))
	}
	keys, err := wire.NewClusterKeys([]wire.Secret{s}, names)
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(20000 + rand.IntN(20000))
	nets := []string{"mgmt", "storage"}
	acfg := agentnet.DefaultConfig()
	ctls := map[string][]string{}
	ports := map[string]uint16{}
	for i, n := range nets {
		a := "127.0.0.1:" + itoa(int(port)+i)
		acfg.Networks = append(acfg.Networks, agentnet.Network{Name: n, Listen: a})
		ctls[n] = []string{a}
		ports[n] = port + uint16(i)
	}
	ctlbed.Start(t, names, decision.DefaultConfig(), acfg, keys, ctlbed.NewMemStore(), 7)
	f, err := swarm.Spawn(swarm.Config{Hosts: hosts, Networks: nets, Port: ports, Controllers: ctls,
		SecretsFile: secrets, Interval: 200 * time.Millisecond, Guests: 3, HeartbeatDir: dir},
		hosts/2, []string{os.Args[0], "-test.run=^$"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctlbed.Eventually(t, 20*time.Second, "every host granted in term 7", func() error {
		m, err := f.Terms()
		if err != nil {
			return err
		}
		if m[7].Hosts != hosts || len(m) != 1 {
			return errorf("terms seen: %v", m)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	h, err := f.Window()
	if err != nil {
		t.Fatal(err)
	}
	if h.N == 0 || h.Quantile(0.5) <= 0 {
		t.Fatalf("no report-to-grant latency counted: %+v", h)
	}
	if _, ok, err := (heartbeat.Dir{Path: dir}).Read(context.Background(), swarm.Name(hosts-1)); !ok || err != nil {
		t.Errorf("no storage heartbeat of the last host (%v)", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
