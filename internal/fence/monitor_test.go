package fence

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

// slowStatus answers Status after a while, counting the calls in flight.
type slowStatus struct {
	took time.Duration
	// mu guards now and peak.
	mu        sync.Mutex
	now, peak int
}

func (d *slowStatus) Off(context.Context) (Proof, error) {
	d.enter()
	defer d.leave()
	time.Sleep(d.took)
	return Proof{Driver: "pdu", Detail: "off"}, nil
}
func (d *slowStatus) On(context.Context) error { return nil }
func (d *slowStatus) Status(ctx context.Context) (Status, error) {
	d.enter()
	defer d.leave()
	select {
	case <-time.After(d.took):
		return StatusOn, nil
	case <-ctx.Done():
		return StatusUnknown, ErrUnreachable
	}
}

func (d *slowStatus) enter() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now++
	d.peak = max(d.peak, d.now)
}

func (d *slowStatus) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now--
}

// Ten dead BMCs that each take their 20 s timeout once cost 200 s a round,
// checked one after another; eight at a time they cost 40 s.
func TestMonitorChecksConcurrentlyWithABound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &slowStatus{took: 20 * time.Second}
		var topos []Topology
		for i := range 10 {
			topos = append(topos, Topology{Host: fmt.Sprintf("cmp%d", i),
				Levels: [][]Member{{{Name: "ipmi", Driver: "ipmi", Device: dev}}}})
		}
		m := NewMonitor(MonitorConfig{Topologies: topos}, nil)
		start := time.Now()
		hs := m.Round(context.Background())
		if took := time.Since(start); took != 40*time.Second {
			t.Errorf("a round of 10 slow devices took %v, want 40s (8 at a time)", took)
		}
		if dev.peak != 8 {
			t.Errorf("%d status calls at once, want the bound, 8", dev.peak)
		}
		if len(hs) != 10 || hs[0].Host != "cmp0" || hs[9].Host != "cmp9" {
			t.Errorf("health not in topology order: %+v", hs)
		}
	})
}

// A PDU that fences two hosts is a member of both topologies: fencing both
// at once, and checking it, must drive it one action at a time.
func TestSharedDeviceRunsOneActionAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pdu := &slowStatus{took: time.Second}
		var slots Slots
		topo := func(host string) Topology {
			return Topology{Host: host, Levels: [][]Member{{{Name: "fence_apc pdu1", Device: pdu, Slot: slots.For("fence_apc pdu1")}}}}
		}
		var wg sync.WaitGroup
		start := time.Now()
		for _, h := range []string{"cmp1", "cmp2"} {
			wg.Go(func() {
				if _, err := topo(h).Off(context.Background(), nil); err != nil {
					t.Errorf("Off(%s) = %v", h, err)
				}
			})
		}
		wg.Wait()
		if pdu.peak != 1 || time.Since(start) != 2*time.Second {
			t.Errorf("%d actions at once on the PDU over %v, want 1 at a time over 2s", pdu.peak, time.Since(start))
		}
		m := NewMonitor(MonitorConfig{Topologies: []Topology{topo("cmp1"), topo("cmp2")}}, nil)
		m.Round(context.Background())
		if pdu.peak != 1 {
			t.Errorf("%d status calls at once on the PDU, want 1", pdu.peak)
		}
	})
}
