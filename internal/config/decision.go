package config

import (
	"slices"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Decision maps the file onto the decision engine's configuration.
// FenceLevels is the largest number of levels any host has;
// SelfFenceAfter is self_fence.assume_dead_after when self_fence.enabled,
// else 0, and so are the agents' timeouts it was computed from.
func (c Config) Decision() decision.Config {
	levels := 0
	for i := range c.Hosts {
		t, _ := c.topology(i)
		levels = max(levels, len(t.Levels))
	}
	// The agents' timeouts count whether or not vigil counts watchdogs as
	// fences: grants carry them, and a reboot proof waits out a
	// predecessor's grant by them.
	var selfFence Duration
	iso, wd := c.SelfFence.IsolationTimeout, c.SelfFence.WatchdogTimeout
	if c.SelfFence.Enabled {
		selfFence = c.SelfFence.AssumeDeadAfter
	}
	return decision.Config{
		Networks:            slices.Clone(c.Networks),
		AgentTimeout:        c.Detection.AgentTimeout.Std(),
		PeerTimeout:         c.Detection.PeerTimeout.Std(),
		StorageTimeout:      c.Detection.StorageTimeout.Std(),
		DeadAfter:           c.Detection.DeadAfter.Std(),
		BMCFreshness:        c.Detection.BMCFreshness.Std(),
		FenceLevels:         levels,
		FenceRetry:          c.Recovery.FenceRetry.Std(),
		FenceRetryMax:       c.Recovery.FenceRetryMax.Std(),
		FenceRenew:          c.Recovery.FenceRenew.Std(),
		MaxConcurrentFences: c.Recovery.MaxConcurrentFences,
		EvacuateRetry:       c.Recovery.EvacuateRetry.Std(),
		EvacuateRetryMax:    c.Recovery.EvacuateRetryMax.Std(),
		EvacuateAttempts:    c.Recovery.EvacuateAttempts,
		BrakeMaxHosts:       c.Brake.MaxHosts,
		BrakeMaxFraction:    c.Brake.MaxFraction,
		BrakeWindow:         c.Brake.Window.Std(),
		DoubtFraction:       c.Doubt.Fraction,
		DoubtMinHosts:       c.Doubt.MinHosts,
		FailoverGrace:       c.Detection.FailoverGrace.Std(),
		SelfFenceAfter:      selfFence.Std(),
		IsolationTimeout:    iso.Std(),
		WatchdogTimeout:     wd.Std(),
		Rejoin:              decision.RejoinPolicy(c.Recovery.Rejoin),
	}
}
