package fence

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// flakyStatus answers Status with the next error of its script.
type flakyStatus struct {
	scriptedDevice
	errs []error
}

func (d *flakyStatus) Status(ctx context.Context) (Status, error) {
	var err error
	if len(d.errs) > 0 {
		err, d.errs = d.errs[0], d.errs[1:]
	}
	return StatusOn, err
}

func TestMonitorAlertsOnBrokenAndRecoveredDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []string
		dev := &flakyStatus{scriptedDevice: scriptedDevice{name: "ipmi", calls: &calls},
			errs: []error{nil, ErrAuth, ErrAuth, nil}}
		reg := prometheus.NewRegistry()
		var alerts []string
		m := NewMonitor(MonitorConfig{
			Interval:   time.Minute,
			Topologies: []Topology{{Host: "cmp1", Levels: [][]Member{{{Name: "ipmi 10.0.0.11:623", Driver: "ipmi", Device: dev}}}}},
			Alert: func(h Health, broken bool) {
				alerts = append(alerts, h.Host+" "+map[bool]string{true: "broken", false: "recovered"}[broken])
			},
		}, reg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		synctest.Wait()
		time.Sleep(time.Minute) // virtual time inside the bubble
		synctest.Wait()
		if got := testutil.ToFloat64(m.up.WithLabelValues("cmp1", "1", "ipmi 10.0.0.11:623", "ipmi")); got != 0 {
			t.Errorf("vigil_fence_device_up = %v after a failed check, want 0", got)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if strings.Join(alerts, ",") != "cmp1 broken,cmp1 recovered" {
			t.Errorf("alerts = %v, want one broken then one recovered", alerts)
		}
		if got := testutil.ToFloat64(m.checks.WithLabelValues("ipmi", "error")); got != 2 {
			t.Errorf("error checks = %v, want 2", got)
		}
		if n, err := testutil.GatherAndCount(reg, "vigil_fence_device_up"); err != nil || n != 1 {
			t.Errorf("registry has %d vigil_fence_device_up series (%v)", n, err)
		}
	})
}
