package decision

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the engine's timings and cluster rules. Every default is
// chosen so a dead host is acted on in seconds while a restarting service or a
// blip on one network never is.
type Config struct {
	// Networks the agent reports over; losing some is network-degraded,
	// losing all is silence.
	Networks []string

	// AgentTimeout: an agent not heard on a network for this long has lost
	// that network. Default 3s (agents report every 1s).
	AgentTimeout time.Duration
	// PeerTimeout: a host no peer has reached on a network for this long is
	// unreachable there. Default 3s.
	PeerTimeout time.Duration
	// StorageTimeout: a storage heartbeat counter that has not moved for this
	// long has stalled. Default 4s (agents write every 1s).
	StorageTimeout time.Duration
	// DeadAfter: how long every path (agent, peers, storage) must be silent
	// before the host is failed. Default 6s.
	DeadAfter time.Duration
	// BMCFreshness: a BMC reading older than this is not evidence. Default 10s.
	BMCFreshness time.Duration

	// FenceLevels is the number of levels in the fencing topology. Default 1.
	FenceLevels int
	// FenceRetry is the first wait after every level failed; it doubles up to
	// FenceRetryMax. Defaults 5s and 60s.
	FenceRetry, FenceRetryMax time.Duration
	// MaxConcurrentFences caps fences in flight at once. Default 3.
	MaxConcurrentFences int
	// EvacuateRetry is the wait before retrying a failed evacuation; after
	// EvacuateAttempts tries the instance is left to an operator. Defaults 10s, 5.
	EvacuateRetry    time.Duration
	EvacuateAttempts int

	// Brake: no automatic fencing when more than BrakeMaxHosts hosts, or more
	// than BrakeMaxFraction of one failure domain, went bad within BrakeWindow.
	// Defaults 2 hosts, 0.5, 120s.
	BrakeMaxHosts    int
	BrakeMaxFraction float64
	BrakeWindow      time.Duration

	// DoubtFraction: when the controller itself has lost every network to more
	// than this fraction of hosts (and at least DoubtMinHosts of them), it
	// suspects its own eyes and freezes. Defaults 0.5 and 3.
	DoubtFraction float64
	DoubtMinHosts int

	// FailoverGrace: after gaining leadership, no host is judged failed for
	// this long, so fresh evidence can arrive (Nomad's failover TTL). Default 10s.
	FailoverGrace time.Duration

	// SelfFenceAfter: when non-zero, a host whose agent last reported an armed
	// watchdog and that has been silent this long counts as self-fenced once
	// every fence level failed. It must be at least the safe time computed by
	// package safetime; zero disables the path. Default 0.
	SelfFenceAfter time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Networks:            []string{"mgmt", "storage"},
		AgentTimeout:        3 * time.Second,
		PeerTimeout:         3 * time.Second,
		StorageTimeout:      4 * time.Second,
		DeadAfter:           6 * time.Second,
		BMCFreshness:        10 * time.Second,
		FenceLevels:         1,
		FenceRetry:          5 * time.Second,
		FenceRetryMax:       60 * time.Second,
		MaxConcurrentFences: 3,
		EvacuateRetry:       10 * time.Second,
		EvacuateAttempts:    5,
		BrakeMaxHosts:       2,
		BrakeMaxFraction:    0.5,
		BrakeWindow:         120 * time.Second,
		DoubtFraction:       0.5,
		DoubtMinHosts:       3,
		FailoverGrace:       10 * time.Second,
	}
}

// ErrConfig marks every configuration error.
var ErrConfig = errors.New("decision: invalid config")

// FieldError names the setting that is wrong, so a caller can map it to
// its own key path without reading the message.
type FieldError struct {
	Field string // e.g. "dead_after", "brake.max_fraction"
	Msg   string
}

func (e *FieldError) Error() string { return ErrConfig.Error() + ": " + e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrConfig) hold.
func (e *FieldError) Unwrap() error { return ErrConfig }

func cfgErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate reports the first impossible setting, naming the field.
func (c Config) Validate() error {
	if len(c.Networks) == 0 {
		return cfgErr("networks", "at least one network is needed, e.g. [mgmt, storage]")
	}
	seen := map[string]bool{}
	for _, n := range c.Networks {
		if n == "" || seen[n] {
			return cfgErr("networks", "network names must be unique and non-empty, got %q", c.Networks)
		}
		seen[n] = true
	}
	pos := []struct {
		name string
		d    time.Duration
	}{
		{"agent_timeout", c.AgentTimeout}, {"peer_timeout", c.PeerTimeout},
		{"storage_timeout", c.StorageTimeout}, {"dead_after", c.DeadAfter},
		{"bmc_freshness", c.BMCFreshness}, {"fence_retry", c.FenceRetry},
		{"fence_retry_max", c.FenceRetryMax}, {"evacuate_retry", c.EvacuateRetry},
		{"brake.window", c.BrakeWindow},
	}
	for _, p := range pos {
		if p.d <= 0 {
			return cfgErr(p.name, "must be positive, got %v", p.d)
		}
	}
	if c.DeadAfter < c.AgentTimeout || c.DeadAfter < c.StorageTimeout || c.DeadAfter < c.PeerTimeout {
		return cfgErr("dead_after", "%v is shorter than agent_timeout (%v), peer_timeout (%v) or storage_timeout (%v): a host would be failed before its silence is even noticed",
			c.DeadAfter, c.AgentTimeout, c.PeerTimeout, c.StorageTimeout)
	}
	if c.FenceRetryMax < c.FenceRetry {
		return cfgErr("fence_retry_max", "%v is shorter than fence_retry (%v)", c.FenceRetryMax, c.FenceRetry)
	}
	if c.FailoverGrace < c.DeadAfter {
		return cfgErr("failover_grace", "%v is shorter than dead_after (%v): a new leader would judge hosts before it could have heard from them", c.FailoverGrace, c.DeadAfter)
	}
	if c.FenceLevels < 1 {
		return cfgErr("fencing.levels", "at least one fence level is needed; vigil never evacuates without a fence")
	}
	if c.MaxConcurrentFences < 1 {
		return cfgErr("max_concurrent_fences", "must be at least 1, got %d", c.MaxConcurrentFences)
	}
	if c.EvacuateAttempts < 1 {
		return cfgErr("evacuate_attempts", "must be at least 1, got %d", c.EvacuateAttempts)
	}
	if c.BrakeMaxHosts < 1 {
		return cfgErr("brake.max_hosts", "must be at least 1, got %d", c.BrakeMaxHosts)
	}
	if !(c.BrakeMaxFraction > 0 && c.BrakeMaxFraction <= 1) { // also rejects NaN
		return cfgErr("brake.max_fraction", "must be in (0, 1], got %v", c.BrakeMaxFraction)
	}
	if !(c.DoubtFraction > 0 && c.DoubtFraction < 1) { // also rejects NaN
		return cfgErr("doubt.fraction", "must be in (0, 1), got %v", c.DoubtFraction)
	}
	if c.DoubtMinHosts < 1 {
		return cfgErr("doubt.min_hosts", "must be at least 1, got %d", c.DoubtMinHosts)
	}
	if c.SelfFenceAfter < 0 {
		return cfgErr("self_fence.assume_dead_after", "must not be negative")
	}
	return nil
}
