package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
)

// metrics are the controller's Prometheus metrics (docs/operations.md).
// Counters count what this process saw; after a failover the new leader's
// start from zero (Prometheus's rate() and increase() handle that).
type metrics struct {
	leader      prometheus.GaugeFunc
	detections  prometheus.Counter
	transitions *prometheus.CounterVec
	fences      *prometheus.CounterVec
	evacuations *prometheus.CounterVec
	alerts      *prometheus.CounterVec
	grants      prometheus.Counter
	recovery    prometheus.Histogram
	termsLost   prometheus.Counter

	mu       sync.Mutex
	failedAt map[string]time.Time // host → when its incident's host was judged failed
}

// States every host can be in, for vigil_hosts (a gauge per state, zero
// included, so a dashboard's series never vanish).
var states = []decision.State{decision.Unknown, decision.Healthy, decision.ServiceDegraded, decision.NetworkDegraded,
	decision.Isolated, decision.Suspect, decision.Failed, decision.Fencing, decision.Fenced, decision.Recovering,
	decision.Recovered, decision.Rejoining, decision.Maintenance}

func newMetrics(reg prometheus.Registerer, status func(context.Context) ([]decision.HostStatus, error), leading func() bool) *metrics {
	m := &metrics{
		leader: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_leader",
			Help: "1 while this controller leads (and may act), else 0."}, func() float64 {
			if leading() {
				return 1
			}
			return 0
		}),
		detections: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detections_total",
			Help: "Hosts judged failed."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_transitions_total",
			Help: "Host state changes, by the state entered."}, []string{"to"}),
		fences: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_fences_total",
			Help: "Fence attempts that came back, by method (the level's drivers) and result (verified, failed, aborted)."}, []string{"method", "result"}),
		evacuations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_evacuations_total",
			Help: "Instance evacuations that came back, by result (moved; failed; refused: the fence re-read stopped it; elsewhere: Nova already placed it on another host, nothing sent)."}, []string{"result"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_alerts_total",
			Help: "Alerts raised, by code."}, []string{"code"}),
		grants: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_grants_total",
			Help: "Agent reports answered with a grant."}),
		recovery: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_time_to_recovery_seconds",
			Help:    "From a host judged failed to every instance it had running elsewhere (state recovered).",
			Buckets: []float64{5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600}}),
		termsLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_terms_lost_total",
			Help: "Times this controller stopped leading without being stopped: its lease ran out (etcd unreachable, or the process stalled)."}),
		failedAt: map[string]time.Time{},
	}
	if reg != nil {
		reg.MustRegister(m.leader, m.detections, m.transitions, m.fences, m.evacuations, m.alerts, m.grants, m.recovery, m.termsLost,
			&hostsCollector{status: status, leading: leading})
	}
	return m
}

// ready counts a Ready's transitions.
func (m *metrics) ready(rd decision.Ready) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range rd.Transitions {
		m.transitions.WithLabelValues(string(t.To)).Inc()
		switch t.To {
		case decision.Failed:
			m.detections.Inc()
			if _, open := m.failedAt[t.Host]; !open {
				m.failedAt[t.Host] = t.At
			}
		case decision.Recovered:
			if at, ok := m.failedAt[t.Host]; ok {
				m.recovery.Observe(t.At.Sub(at).Seconds())
			}
			delete(m.failedAt, t.Host)
		case decision.Healthy, decision.Maintenance:
			delete(m.failedAt, t.Host)
		}
	}
}

// result counts an executor's result on its way to the loop.
func (m *metrics) result(in decision.Input) {
	switch r := in.(type) {
	case decision.FenceResult:
		res := "failed"
		switch {
		case r.OK:
			res = "verified"
		case r.Aborted != decision.NotAborted:
			res = "aborted"
		}
		m.fences.WithLabelValues(r.Method, res).Inc()
	case decision.EvacuateResult:
		res := "failed"
		switch {
		case r.OK:
			res = "moved"
		case !r.Accepted && (r.FenceLost || r.FenceUnreadable):
			res = "refused"
		case r.Elsewhere():
			res = "elsewhere"
		}
		m.evacuations.WithLabelValues(res).Inc()
	}
}

// hostsCollector reads the engine's view at scrape time: vigil_hosts by
// state, on the leader only (a follower judges nothing).
type hostsCollector struct {
	status  func(context.Context) ([]decision.HostStatus, error)
	leading func() bool
}

var hostsDesc = prometheus.NewDesc("vigil_hosts", "Hosts by state, as the leader judges them (the leader only).", []string{"state"}, nil)

func (c *hostsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- hostsDesc }

func (c *hostsCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.leading() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		return
	}
	n := map[decision.State]int{}
	for _, s := range st {
		n[s.State]++
	}
	for _, s := range states {
		ch <- prometheus.MustNewConstMetric(hostsDesc, prometheus.GaugeValue, float64(n[s]), string(s))
	}
}

// tickBuckets are the loop's tick durations, journal write included: a
// tick holds every report waiting for its grant.
var tickBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

func newTickHistogram(reg prometheus.Registerer) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_loop_tick_seconds",
		Help:    "Duration of the leader's loop ticks, the journal write of what they decided included; reports wait meanwhile.",
		Buckets: tickBuckets})
	if reg != nil {
		reg.MustRegister(h)
	}
	return h
}

// registerTransport exports the agents' transport counters
// (agentnet.Stats): what came in, by fate, and what went out.
func registerTransport(reg prometheus.Registerer, stats func() agentnet.Stats) {
	if reg == nil {
		return
	}
	in := func(result string, f func(agentnet.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_agent_packets_total",
			Help:        "Agent packets this controller received, by what became of them: taken (opened and passed to the loop), refused (the gate's checks), not-leading (dropped unopened), ungranted (a report the loop did not grant).",
			ConstLabels: prometheus.Labels{"result": result}}, func() float64 { return float64(f(stats())) })
	}
	out := func(kind string, f func(agentnet.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_agent_sent_total",
			Help:        "Packets this controller sent to agents, by kind; retry-limited counts Retry answers the rate limit withheld, failed those the socket refused.",
			ConstLabels: prometheus.Labels{"kind": kind}}, func() float64 { return float64(f(stats())) })
	}
	reg.MustRegister(
		in("taken", func(s agentnet.Stats) uint64 { return s.Taken }),
		in("refused", agentnet.Stats.Refused),
		in("not-leading", func(s agentnet.Stats) uint64 { return s.NotLeading }),
		in("ungranted", func(s agentnet.Stats) uint64 { return s.Ungranted }),
		out("grant", func(s agentnet.Stats) uint64 { return s.Grants }),
		out("ack", func(s agentnet.Stats) uint64 { return s.Acks }),
		out("retry", func(s agentnet.Stats) uint64 { return s.Retries }),
		out("retry-limited", func(s agentnet.Stats) uint64 { return s.RetriesLimited }),
		out("failed", func(s agentnet.Stats) uint64 { return s.SendFailed }),
	)
}
