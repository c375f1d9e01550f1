package config

// Config is the whole configuration file. Field comments give each key's
// YAML name and default; docs/configuration.md explains them at length.
type Config struct {
	// Networks the agents report over (networks). Default [mgmt, storage].
	Networks  []string  `yaml:"networks"`
	Detection Detection `yaml:"detection"`
	Recovery  Recovery  `yaml:"recovery"`
	Brake     Brake     `yaml:"brake"`
	Doubt     Doubt     `yaml:"doubt"`
	Agent     Agent     `yaml:"agent"`
	SelfFence SelfFence `yaml:"self_fence"`
	Fencing   Fencing   `yaml:"fencing"`
	// Controller is vigil controller's own section (controller.go).
	Controller Controller `yaml:"controller"`
	// Hosts are the compute hosts vigil protects (hosts). No default.
	Hosts []Host `yaml:"hosts"`
}

// Detection holds how silence is turned into a verdict.
type Detection struct {
	// AgentTimeout: an agent not heard on a network this long has lost it.
	AgentTimeout Duration `yaml:"agent_timeout"` // default 3s
	// PeerTimeout: a host no peer reached on a network this long is
	// unreachable there.
	PeerTimeout Duration `yaml:"peer_timeout"` // default 3s
	// StorageTimeout: a storage heartbeat that has not moved this long stalled.
	StorageTimeout Duration `yaml:"storage_timeout"` // default 4s
	// DeadAfter: every path silent this long fails the host.
	DeadAfter Duration `yaml:"dead_after"` // default 6s
	// BMCFreshness: an older BMC reading is not evidence.
	BMCFreshness Duration `yaml:"bmc_freshness"` // default 10s
	// FailoverGrace: a new leader judges no host for this long.
	FailoverGrace Duration `yaml:"failover_grace"` // default 10s
}

// Recovery holds fencing and evacuation pacing.
type Recovery struct {
	MaxConcurrentFences int      `yaml:"max_concurrent_fences"` // default 3
	FenceRetry          Duration `yaml:"fence_retry"`           // default 5s, doubles after each round
	FenceRetryMax       Duration `yaml:"fence_retry_max"`       // default 60s
	FenceRenew          Duration `yaml:"fence_renew"`           // default 10m: blocklist entries of an open incident renewed this often
	EvacuateRetry       Duration `yaml:"evacuate_retry"`        // default 10s, doubles after each failure
	EvacuateRetryMax    Duration `yaml:"evacuate_retry_max"`    // default 60s
	EvacuateAttempts    int      `yaml:"evacuate_attempts"`     // default 3: failures before an alert
	// Rejoin: who lets a fenced host back once it is clean: "manual" (an
	// operator, vigil rejoin HOST) or "auto" (vigil, at once).
	Rejoin string `yaml:"rejoin"` // default manual
}

// Brake stops automatic fencing when too many hosts go bad at once.
type Brake struct {
	MaxHosts    int      `yaml:"max_hosts"`    // default 2
	MaxFraction float64  `yaml:"max_fraction"` // default 0.5 of one failure domain
	Window      Duration `yaml:"window"`       // default 120s
}

// Doubt freezes the controller when it has lost sight of many hosts at once.
type Doubt struct {
	Fraction float64 `yaml:"fraction"`  // default 0.5
	MinHosts int     `yaml:"min_hosts"` // default 3
}

// Agent holds the host agent's own timing.
type Agent struct {
	// ReportInterval: how often the agent reports and checks isolation.
	ReportInterval Duration `yaml:"report_interval"` // default 1s
}

// SelfFence configures the watchdog path used when every fence level failed.
type SelfFence struct {
	Enabled          bool     `yaml:"enabled"`           // default false
	IsolationTimeout Duration `yaml:"isolation_timeout"` // default 10s
	WatchdogTimeout  Duration `yaml:"watchdog_timeout"`  // default 10s, whole seconds
	// AssumeDeadAfter must be at least safetime.Minimum of the above.
	AssumeDeadAfter Duration `yaml:"assume_dead_after"` // default 60s
}

// Fencing holds the fencing topology of each failure domain.
type Fencing struct {
	// Domains maps a failure domain to its topology; "default" applies to
	// hosts whose domain has no entry. No default: the file must say how
	// to fence.
	Domains map[string]Topology `yaml:"domains,omitempty"`
}

// DefaultDomain is the Fencing.Domains entry for hosts without their own.
const DefaultDomain = "default"

// Topology is an ordered list of fence levels. Every device of a level must
// succeed (and be verified), otherwise the next level is tried.
type Topology struct {
	Levels [][]Device `yaml:"levels,omitempty"`
}

// Host is one compute host.
type Host struct {
	// Name is the host's name as Nova knows it (hypervisor hostname).
	Name string `yaml:"name"`
	// Domain is the failure domain (rack, row); optional.
	Domain string `yaml:"domain,omitempty"`
	// BMC supplies the address of ipmi, redfish and fence-agent devices that
	// have none of their own.
	BMC BMC `yaml:"bmc,omitempty"`
	// StorageIPs are the host's addresses on the Ceph public network, the
	// addresses a ceph-blocklist device blocklists.
	StorageIPs []string `yaml:"storage_ips,omitempty"`
	// KdumpIPs are the addresses the host's kdump kernel sends its
	// fence_kdump messages from (kdump.conf's network), the only ones a
	// kdump device accepts.
	KdumpIPs []string `yaml:"kdump_ips,omitempty"`
	// Fencing, when it has levels, replaces the domain's topology.
	Fencing Topology `yaml:"fencing,omitempty"`
}

// BMC is a host's baseboard management controller.
type BMC struct {
	Address  string `yaml:"address,omitempty"`  // host name or IP, no scheme
	Port     int    `yaml:"port,omitempty"`     // default: the driver's (623 ipmi, 443 redfish)
	Endpoint string `yaml:"endpoint,omitempty"` // Redfish URL; default https://address[:port]
}

// Default returns every default documented on the fields above. It has no
// hosts and no fencing, which the file must supply.
func Default() Config {
	return Config{
		Networks: []string{"mgmt", "storage"},
		Detection: Detection{
			AgentTimeout:   sec(3),  // 3 missed reports at 1s
			PeerTimeout:    sec(3),  // likewise for peer probes
			StorageTimeout: sec(4),  // the storage heartbeat is written every 1s
			DeadAfter:      sec(6),  // every path silent this long
			BMCFreshness:   sec(10), // a BMC answer older than this is not evidence
			FailoverGrace:  sec(10), // a new leader waits at least dead_after
		},
		Recovery: Recovery{
			MaxConcurrentFences: 3,
			FenceRetry:          sec(5),
			FenceRetryMax:       sec(60),
			FenceRenew:          sec(600),
			EvacuateRetry:       sec(10),
			EvacuateRetryMax:    sec(60),
			EvacuateAttempts:    3,
			Rejoin:              "manual", // an operator lets a clean host back (vigil rejoin HOST)
		},
		Brake: Brake{
			MaxHosts:    2,        // more than two hosts bad at once ...
			MaxFraction: 0.5,      // ... or more than half a failure domain ...
			Window:      sec(120), // ... within two minutes: stop and ask an operator
		},
		Doubt: Doubt{
			Fraction: 0.5, // lost sight of more than half the hosts ...
			MinHosts: 3,   // ... and at least three: the controller is the blind one
		},
		Agent: Agent{ReportInterval: sec(1)},
		SelfFence: SelfFence{
			Enabled:          false,   // needs a hardware watchdog on every host
			IsolationTimeout: sec(10), // no grant from the leader for 10s
			WatchdogTimeout:  sec(10), // then the watchdog resets the host 10s later (up to 3 x 10s: safetime)
			AssumeDeadAfter:  sec(60), // safe minimum for these is 46s
		},
		Controller: defaultController(),
	}
}
