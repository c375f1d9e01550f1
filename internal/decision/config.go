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
	// FenceRenew is how often an open incident's fences that lapse unless
	// renewed (Ceph blocklist entries) are renewed: at most 30m, half the
	// shortest expiry a blocklist device accepts (1h). Default 10m.
	FenceRenew time.Duration
	// MaxConcurrentFences caps fences in flight at once. Default 3.
	MaxConcurrentFences int
	// EvacuateRetry is the first wait before retrying a failed evacuation of
	// one instance; it doubles after each failure up to EvacuateRetryMax, and
	// a host turning healthy (capacity back) cuts it short. vigil never stops
	// retrying while the instance is its to move: after EvacuateAttempts
	// failures it alerts an operator. Defaults 10s, 60s, 3.
	EvacuateRetry, EvacuateRetryMax time.Duration
	EvacuateAttempts                int

	// Brake: no automatic fencing when more than BrakeMaxHosts hosts, or more
	// than BrakeMaxFraction of one failure domain (from 2 failed hosts of it),
	// were judged failed within BrakeWindow; hosts the brake holds count until
	// it lets them go. Defaults 2 hosts, 0.5, 120s.
	BrakeMaxHosts    int
	BrakeMaxFraction float64
	BrakeWindow      time.Duration

	// DoubtFraction: when the controller itself has lost every path (agent,
	// peers, storage heartbeat) to more than this fraction of the live hosts
	// (and at least DoubtMinHosts of them) within DeadAfter of each other, it
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
	// IsolationTimeout and WatchdogTimeout are the agents' timeouts that
	// SelfFenceAfter was computed from (package safetime). An agent that
	// reports longer ones (SelfReport), or none, would reset its host after
	// the safe time: its watchdog is not counted. Zero: not checked (an
	// engine built by hand; internal/config always sets them).
	IsolationTimeout, WatchdogTimeout time.Duration

	// Rejoin is how a fenced host that came back clean rejoins:
	// RejoinManual waits for an operator's word (vigil rejoin HOST, input
	// Rejoin), RejoinAuto lets it back as soon as it is clean. Either way
	// only a clean host rejoins (rejoin.go). Default manual.
	Rejoin RejoinPolicy
}

// RejoinPolicy says who lets a clean fenced host back into service.
type RejoinPolicy string

const (
	// RejoinManual: the host stays fenced and forced down, and vigil
	// alerts rejoin-ready, until an operator lets it back.
	RejoinManual RejoinPolicy = "manual"
	// RejoinAuto: vigil unfences and re-enables it once it is clean.
	RejoinAuto RejoinPolicy = "auto"
)

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
		FenceRenew:          10 * time.Minute,
		MaxConcurrentFences: 3,
		EvacuateRetry:       10 * time.Second,
		EvacuateRetryMax:    60 * time.Second,
		EvacuateAttempts:    3,
		BrakeMaxHosts:       2,
		BrakeMaxFraction:    0.5,
		BrakeWindow:         120 * time.Second,
		DoubtFraction:       0.5,
		DoubtMinHosts:       3,
		FailoverGrace:       10 * time.Second,
		Rejoin:              RejoinManual,
	}
}

// MaxFenceRenew is the longest FenceRenew: half of the shortest blocklist
// expiry a device accepts (cephbl.MinExpire).
const MaxFenceRenew = 30 * time.Minute

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

// Validate reports the first impossible setting. FieldError.Field is the
// setting's path in vigil's configuration file (detection.dead_after), so
// the config package reports it under the same name.
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
	for _, p := range []struct {
		path string
		d    time.Duration
	}{
		{"detection.agent_timeout", c.AgentTimeout}, {"detection.peer_timeout", c.PeerTimeout},
		{"detection.storage_timeout", c.StorageTimeout}, {"detection.dead_after", c.DeadAfter},
		{"detection.bmc_freshness", c.BMCFreshness}, {"detection.failover_grace", c.FailoverGrace},
		{"recovery.fence_retry", c.FenceRetry}, {"recovery.fence_retry_max", c.FenceRetryMax},
		{"recovery.fence_renew", c.FenceRenew},
		{"recovery.evacuate_retry", c.EvacuateRetry}, {"recovery.evacuate_retry_max", c.EvacuateRetryMax},
		{"brake.window", c.BrakeWindow},
	} {
		if p.d <= 0 {
			return cfgErr(p.path, "must be a positive duration, got %v", p.d)
		}
	}
	for _, t := range []struct {
		path string
		d    time.Duration
	}{
		{"detection.agent_timeout", c.AgentTimeout}, {"detection.peer_timeout", c.PeerTimeout},
		{"detection.storage_timeout", c.StorageTimeout},
	} {
		if c.DeadAfter < t.d {
			return cfgErr("detection.dead_after", "%v is shorter than %s (%v): a host would be failed before its silence is even noticed", c.DeadAfter, t.path, t.d)
		}
	}
	if c.FailoverGrace < c.DeadAfter {
		return cfgErr("detection.failover_grace", "%v is shorter than detection.dead_after (%v): a new leader would judge hosts before it could have heard from them", c.FailoverGrace, c.DeadAfter)
	}
	if c.FenceRenew > MaxFenceRenew {
		return cfgErr("recovery.fence_renew", "%v is longer than %v: a blocklist entry of the shortest expiry vigil accepts (1h) is renewed once it has less than half left, so a renewal this rare could come after it lapsed; set it to %v or less", c.FenceRenew, MaxFenceRenew, MaxFenceRenew)
	}
	if c.FenceRetryMax < c.FenceRetry {
		return cfgErr("recovery.fence_retry_max", "%v is shorter than recovery.fence_retry (%v)", c.FenceRetryMax, c.FenceRetry)
	}
	if c.EvacuateRetryMax < c.EvacuateRetry {
		return cfgErr("recovery.evacuate_retry_max", "%v is shorter than recovery.evacuate_retry (%v)", c.EvacuateRetryMax, c.EvacuateRetry)
	}
	for _, n := range []struct {
		path string
		v    int
	}{
		{"recovery.max_concurrent_fences", c.MaxConcurrentFences}, {"recovery.evacuate_attempts", c.EvacuateAttempts},
		{"brake.max_hosts", c.BrakeMaxHosts}, {"doubt.min_hosts", c.DoubtMinHosts},
	} {
		if n.v < 1 {
			return cfgErr(n.path, "must be at least 1, got %d", n.v)
		}
	}
	// Written so that NaN fails too.
	if !(c.BrakeMaxFraction > 0 && c.BrakeMaxFraction <= 1) {
		return cfgErr("brake.max_fraction", "must be above 0 and at most 1, got %v", c.BrakeMaxFraction)
	}
	if !(c.DoubtFraction > 0 && c.DoubtFraction < 1) {
		return cfgErr("doubt.fraction", "must be above 0 and below 1, got %v", c.DoubtFraction)
	}
	if c.FenceLevels < 1 {
		return cfgErr("fencing", "at least one fence level is needed; vigil never evacuates without a fence")
	}
	if c.Rejoin != RejoinManual && c.Rejoin != RejoinAuto {
		return cfgErr("recovery.rejoin", "must be %q (a clean host waits for vigil rejoin HOST) or %q (it rejoins as soon as it is clean), got %q", RejoinManual, RejoinAuto, c.Rejoin)
	}
	if c.SelfFenceAfter < 0 {
		return cfgErr("self_fence.assume_dead_after", "must not be negative")
	}
	if c.IsolationTimeout < 0 || c.WatchdogTimeout < 0 {
		return cfgErr("self_fence.isolation_timeout", "the agents' timeouts must not be negative")
	}
	return nil
}
