package scenario

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// overrides are the parts of vigil's config a scenario may change.
type overrides struct {
	Detection struct {
		AgentTimeout   Duration `yaml:"agent_timeout"`
		PeerTimeout    Duration `yaml:"peer_timeout"`
		StorageTimeout Duration `yaml:"storage_timeout"`
		DeadAfter      Duration `yaml:"dead_after"`
		FailoverGrace  Duration `yaml:"failover_grace"`
	} `yaml:"detection"`
	Recovery struct {
		MaxConcurrentFences int `yaml:"max_concurrent_fences"`
	} `yaml:"recovery"`
	Brake struct {
		MaxHosts    int      `yaml:"max_hosts"`
		MaxFraction float64  `yaml:"max_fraction"`
		Window      Duration `yaml:"window"`
	} `yaml:"brake"`
	Doubt struct {
		Fraction float64 `yaml:"fraction"`
		MinHosts int     `yaml:"min_hosts"`
	} `yaml:"doubt"`
}

// DecisionConfig is vigil's engine configuration for this scenario: the
// defaults, the cluster's networks and fence levels, and the overrides.
func (s *Scenario) DecisionConfig() (decision.Config, error) {
	cfg := decision.DefaultConfig()
	cfg.Networks = s.Networks()
	if n := len(s.Cluster.Fencing); n > 0 {
		cfg.FenceLevels = n
	}
	if s.Vigil != nil {
		var o overrides
		if err := s.Vigil.Decode(&o); err != nil {
			return cfg, fmt.Errorf("%w: vigil: %v", ErrInvalid, err)
		}
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
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: vigil: %v", ErrInvalid, err)
	}
	return cfg, nil
}
