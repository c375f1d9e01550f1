package scenario

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/safetime"
)

// Overrides are the parts of vigil's config a scenario may change, under
// the same keys as in vigil's config file.
type Overrides struct {
	Detection struct {
		AgentTimeout   Duration `yaml:"agent_timeout,omitempty"`
		PeerTimeout    Duration `yaml:"peer_timeout,omitempty"`
		StorageTimeout Duration `yaml:"storage_timeout,omitempty"`
		DeadAfter      Duration `yaml:"dead_after,omitempty"`
		FailoverGrace  Duration `yaml:"failover_grace,omitempty"`
	} `yaml:"detection,omitempty"`
	Recovery struct {
		MaxConcurrentFences int `yaml:"max_concurrent_fences,omitempty"`
		// Rejoin is the rejoin policy, manual or auto. Scenarios default
		// to auto (ScenarioRejoin), unlike vigil's config file.
		Rejoin string `yaml:"rejoin,omitempty"`
	} `yaml:"recovery,omitempty"`
	Brake struct {
		MaxHosts    int      `yaml:"max_hosts,omitempty"`
		MaxFraction float64  `yaml:"max_fraction,omitempty"`
		Window      Duration `yaml:"window,omitempty"`
	} `yaml:"brake,omitempty"`
	Doubt struct {
		Fraction float64 `yaml:"fraction,omitempty"`
		MinHosts int     `yaml:"min_hosts,omitempty"`
	} `yaml:"doubt,omitempty"`
	SelfFence struct {
		AssumeDeadAfter Duration `yaml:"assume_dead_after"`
	} `yaml:"self_fence"`
}

// ScenarioRejoin is the rejoin policy of a scenario that names none: auto,
// so a scenario says what a fenced host does once it is clean by itself,
// as every scenario written before the policy existed expects. vigil's own
// default (the config file) is manual; a scenario that wants it says
// vigil: {recovery: {rejoin: manual}}, and its operator lets hosts back
// with the rejoin verb.
const ScenarioRejoin = decision.RejoinAuto

// agentReport is the simulated agents' report interval.
const agentReport = time.Second

// DecisionConfig is vigil's engine configuration for this scenario: the
// defaults, the cluster's networks and fence levels, and the overrides.
func (s *Scenario) DecisionConfig() (decision.Config, error) {
	cfg := decision.DefaultConfig()
	cfg.Networks = s.Networks()
	cfg.Rejoin = ScenarioRejoin
	if n := len(s.Cluster.Fencing); n > 0 {
		cfg.FenceLevels = n
	}
	if s.Vigil != nil {
		o := *s.Vigil
		setD := func(dst *time.Duration, v Duration) {
			if v > 0 {
				*dst = time.Duration(v)
			}
		}
		setD(&cfg.AgentTimeout, o.Detection.AgentTimeout)
		setD(&cfg.PeerTimeout, o.Detection.PeerTimeout)
		setD(&cfg.StorageTimeout, o.Detection.StorageTimeout)
		setD(&cfg.DeadAfter, o.Detection.DeadAfter)
		setD(&cfg.FailoverGrace, o.Detection.FailoverGrace)
		setD(&cfg.BrakeWindow, o.Brake.Window)
		if o.Recovery.MaxConcurrentFences > 0 {
			cfg.MaxConcurrentFences = o.Recovery.MaxConcurrentFences
		}
		if o.Recovery.Rejoin != "" {
			cfg.Rejoin = decision.RejoinPolicy(o.Recovery.Rejoin)
		}
		if o.Brake.MaxHosts > 0 {
			cfg.BrakeMaxHosts = o.Brake.MaxHosts
		}
		if o.Brake.MaxFraction > 0 {
			cfg.BrakeMaxFraction = o.Brake.MaxFraction
		}
		if o.Doubt.Fraction > 0 {
			cfg.DoubtFraction = o.Doubt.Fraction
		}
		if o.Doubt.MinHosts > 0 {
			cfg.DoubtMinHosts = o.Doubt.MinHosts
		}
		if a := time.Duration(o.SelfFence.AssumeDeadAfter); a > 0 {
			wd := s.Cluster.Watchdog
			if wd == nil {
				return cfg, fmt.Errorf("%w: vigil.self_fence.assume_dead_after: self-fencing needs cluster.watchdog (isolation_timeout, watchdog_timeout)", ErrInvalid)
			}
			in := safetime.Input{ReportInterval: agentReport, IsolationTimeout: time.Duration(wd.IsolationTimeout), WatchdogTimeout: time.Duration(wd.WatchdogTimeout)}
			if err := safetime.Check(a, in); err != nil {
				return cfg, fmt.Errorf("%w: vigil.%v", ErrInvalid, err)
			}
			cfg.SelfFenceAfter = a
		}
	}
	if wd := s.Cluster.Watchdog; wd != nil {
		// The agents' timeouts, whether or not vigil counts watchdogs.
		cfg.IsolationTimeout, cfg.WatchdogTimeout = time.Duration(wd.IsolationTimeout), time.Duration(wd.WatchdogTimeout)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: vigil: %v", ErrInvalid, err)
	}
	return cfg, nil
}
