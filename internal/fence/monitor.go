package fence

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MonitorConfig configures periodic fence-device health checks.
type MonitorConfig struct {
	Topologies []Topology
	// Interval between two rounds of status calls. Default 5m: a status
	// call costs a BMC session, and a broken password must be found in
	// minutes, not at the next incident.
	Interval time.Duration
	// Alert is called when a device turns broken, and when it recovers.
	Alert func(h Health, broken bool)
	Log   *slog.Logger
	// Parallel bounds the status calls running at once. Default 8: a dead
	// BMC costs its timeout, and N dead ones checked one after another
	// would cost N timeouts a round.
	Parallel int
}

// Monitor runs every device's Status periodically.
type Monitor struct {
	cfg    MonitorConfig
	up     *prometheus.GaugeVec
	checks *prometheus.CounterVec
	broken map[string]bool // member key → last round failed; owned by Run
}

// NewMonitor registers the monitor's metrics with reg (nil: not exported).
func NewMonitor(cfg MonitorConfig, reg prometheus.Registerer) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	m := &Monitor{cfg: cfg, broken: map[string]bool{},
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_fence_device_up",
			Help: "1 when the fence device answered its last status call, 0 when it failed.",
		}, []string{"host", "level", "device", "driver"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_fence_device_checks_total",
			Help: "Fence device status calls, by result (ok, error).",
		}, []string{"driver", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.up, m.checks)
	}
	return m
}

// Run checks every device now and then every Interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round runs one round of status calls, at most Parallel at once, and
// returns what they said in topology order.
func (m *Monitor) Round(ctx context.Context) []Health {
	var all []Health
	for _, h := range m.checkAll(ctx) {
		all = append(all, h)
		level := strconv.Itoa(h.Level)
		key := h.Host + "/" + level + "/" + h.Member
		broken := h.Err != nil
		result := "ok"
		val := 1.0
		if broken {
			result, val = "error", 0
			m.cfg.Log.Warn("fence device check failed", "host", h.Host, "driver", h.Driver, "device", h.Member, "err", h.Err)
		}
		m.up.WithLabelValues(h.Host, level, h.Member, h.Driver).Set(val)
		m.checks.WithLabelValues(h.Driver, result).Inc()
		if was, seen := m.broken[key]; (seen && was != broken) || (!seen && broken) {
			if m.cfg.Alert != nil {
				m.cfg.Alert(h, broken)
			}
		}
		m.broken[key] = broken
	}
	return all
}

// checkAll runs every member's status call, Parallel at a time.
func (m *Monitor) checkAll(ctx context.Context) []Health {
	type job struct {
		topo  Topology
		level int
		m     Member
	}
	var jobs []job
	for _, t := range m.cfg.Topologies {
		for i, level := range t.Levels {
			for _, mem := range level {
				jobs = append(jobs, job{t, i + 1, mem})
			}
		}
	}
	out := make([]Health, len(jobs))
	sem := make(chan struct{}, m.cfg.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = j.topo.checkMember(ctx, j.level, j.m)
		}()
	}
	wg.Wait()
	return out
}
