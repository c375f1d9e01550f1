package devices_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// alerts records a Monitor's alert calls; the monitor's goroutine writes,
// the test reads.
type alerts struct {
	// mu guards seen.
	mu   sync.Mutex
	seen []string
}

func (a *alerts) alert(h fence.Health, broken bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// The error is not checked here: a BMC stopped between two exchanges
	// of a session's setup gives an error without a sentinel (go-ipmi
	// joins its errors as text); the test checks a steady dead BMC.
	state := "recovered"
	if broken {
		state = "broken"
	}
	a.seen = append(a.seen, h.Host+" "+state)
}

func (a *alerts) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// deviceUp reads vigil_fence_device_up of host's devices from reg: their
// values by device name.
func deviceUp(reg *prometheus.Registry, host string) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	up := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_fence_device_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["host"] == host {
				up[labels["device"]] = m.GetGauge().GetValue()
			}
		}
	}
	return up, nil
}

// The health monitor against real ipmi_sim BMCs: host0's BMC dies,
// vigil_fence_device_up goes to 0 and the alert fires once; host1's stays
// up. The BMC comes back (same port and password): 1 again, and a recovery
// alert.
func TestIntegrationMonitorFindsADeadBMC(t *testing.T) {
	integration(t)
	r := newRig(t)
	cfg, _ := r.config(t, map[int][]string{0: {"[" + r.ipmiDev(t, 0, true) + "]"}, 1: {"[" + r.ipmiDev(t, 1, true) + "]"}})
	reg := prometheus.NewRegistry()
	var got alerts
	topo0 := r.topology(t, cfg, 0, false)
	m := fence.NewMonitor(fence.MonitorConfig{
		Topologies: []fence.Topology{topo0, r.topology(t, cfg, 1, false)},
		Interval:   100 * time.Millisecond,
		Alert:      got.alert,
	}, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	dev0 := fmt.Sprintf("ipmi %s:%d", ipmisim.Address, r.ipmi[0].Port())
	dev1 := fmt.Sprintf("ipmi %s:%d", ipmisim.Address, r.ipmi[1].Port())
	wantUp := func(host, dev string, want float64) func() error {
		return func() error {
			up, err := deviceUp(reg, host)
			if err == nil && (len(up) != 1 || up[dev] != want) {
				err = fmt.Errorf("vigil_fence_device_up{host=%q} = %v, want %s: %v", host, up, dev, want)
			}
			return err
		}
	}
	tier.Eventually(t, waitTimeout, "both BMCs up", func() error {
		if err := wantUp("host0", dev0, 1)(); err != nil {
			return err
		}
		return wantUp("host1", dev1, 1)()
	})
	if a := got.list(); len(a) != 0 {
		t.Fatalf("alerts while every BMC works: %v", a)
	}

	r.ipmi[0].Stop()
	tier.Eventually(t, waitTimeout, "host0's BMC down", wantUp("host0", dev0, 0))
	tier.Eventually(t, waitTimeout, "an alert for host0", func() error {
		if a := got.list(); len(a) == 0 {
			return errors.New("no alert yet")
		}
		return nil
	})
	if err := wantUp("host1", dev1, 1)(); err != nil {
		t.Error(err)
	}
	for _, h := range topo0.Check(ctx) {
		if !errors.Is(h.Err, fence.ErrUnreachable) {
			t.Errorf("Check of host0 with its BMC stopped = %v, want ErrUnreachable", h.Err)
		}
	}

	c := ipmisim.DefaultConfig(r.lab.Host(0).Namespace, t.TempDir())
	c.Port, c.Password = r.ipmi[0].Port(), r.ipmi[0].Password()
	b, err := ipmisim.Start(ctx, c)
	if err != nil {
		t.Fatalf("restart host0's BMC: %v", err)
	}
	t.Cleanup(b.Stop)
	tier.Eventually(t, waitTimeout, "host0's BMC up again", wantUp("host0", dev0, 1))
	tier.Eventually(t, waitTimeout, "a recovery alert", func() error {
		if a := got.list(); len(a) < 2 {
			return fmt.Errorf("alerts %v", a)
		}
		return nil
	})
	if a := got.list(); len(a) != 2 || a[0] != "host0 broken" || a[1] != "host0 recovered" {
		t.Errorf("alerts = %q, want [host0 broken, host0 recovered]", a)
	}
}
