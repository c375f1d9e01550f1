package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/vigil-ha/vigil/internal/safetime"
)

// Validate reports the first setting that is missing, impossible or unsafe,
// as an *Error naming its YAML path (errors.Is(err, ErrInvalid)). It applies
// the decision engine's rules in the file's terms, then decision's own
// Validate as a backstop.
func (c Config) Validate() error {
	for _, check := range []func() error{
		c.checkNetworks, c.checkTimings, c.checkSelfFence, c.checkDomains, c.checkHosts,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	if err := c.Decision().Validate(); err != nil {
		return &Error{Msg: "the decision engine rejects these settings", Err: err}
	}
	return nil
}

func (c Config) checkNetworks() error {
	if len(c.Networks) == 0 {
		return invalid("networks", "at least one network is needed, e.g. [mgmt, storage]")
	}
	seen := map[string]bool{}
	for i, n := range c.Networks {
		p := "networks[" + strconv.Itoa(i) + "]"
		if !nameRE.MatchString(n) {
			return invalid(p, "%q is not a network name (letters, digits, _ and -)", n)
		}
		if seen[n] {
			return invalid(p, "network %q is listed twice", n)
		}
		seen[n] = true
	}
	return nil
}

func (c Config) checkTimings() error {
	d, r := c.Detection, c.Recovery
	for _, p := range []struct {
		path string
		d    Duration
	}{
		{"detection.agent_timeout", d.AgentTimeout}, {"detection.peer_timeout", d.PeerTimeout},
		{"detection.storage_timeout", d.StorageTimeout}, {"detection.dead_after", d.DeadAfter},
		{"detection.bmc_freshness", d.BMCFreshness}, {"detection.failover_grace", d.FailoverGrace},
		{"recovery.fence_retry", r.FenceRetry}, {"recovery.fence_retry_max", r.FenceRetryMax},
		{"recovery.evacuate_retry", r.EvacuateRetry}, {"brake.window", c.Brake.Window},
		{"agent.report_interval", c.Agent.ReportInterval},
	} {
		if p.d <= 0 {
			return invalid(p.path, "must be a positive duration, got %v", p.d)
		}
	}
	for _, t := range []struct {
		path string
		d    Duration
	}{
		{"detection.agent_timeout", d.AgentTimeout}, {"detection.peer_timeout", d.PeerTimeout},
		{"detection.storage_timeout", d.StorageTimeout},
	} {
		if d.DeadAfter < t.d {
			return invalid("detection.dead_after", "%v is shorter than %s (%v): a host would be failed before its silence is even noticed", d.DeadAfter, t.path, t.d)
		}
	}
	if d.FailoverGrace < d.DeadAfter {
		return invalid("detection.failover_grace", "%v is shorter than detection.dead_after (%v): a new leader would judge hosts before it could have heard from them", d.FailoverGrace, d.DeadAfter)
	}
	if d.AgentTimeout < 2*c.Agent.ReportInterval {
		return invalid("detection.agent_timeout", "%v is less than twice agent.report_interval (%v): one late report would count as a lost network", d.AgentTimeout, c.Agent.ReportInterval)
	}
	if r.FenceRetryMax < r.FenceRetry {
		return invalid("recovery.fence_retry_max", "%v is shorter than recovery.fence_retry (%v)", r.FenceRetryMax, r.FenceRetry)
	}
	for _, n := range []struct {
		path string
		v    int
	}{
		{"recovery.max_concurrent_fences", r.MaxConcurrentFences}, {"recovery.evacuate_attempts", r.EvacuateAttempts},
		{"brake.max_hosts", c.Brake.MaxHosts}, {"doubt.min_hosts", c.Doubt.MinHosts},
	} {
		if n.v < 1 {
			return invalid(n.path, "must be at least 1, got %d", n.v)
		}
	}
	// Written so that NaN fails too.
	if !(c.Brake.MaxFraction > 0 && c.Brake.MaxFraction <= 1) {
		return invalid("brake.max_fraction", "must be above 0 and at most 1, got %v", c.Brake.MaxFraction)
	}
	if !(c.Doubt.Fraction > 0 && c.Doubt.Fraction < 1) {
		return invalid("doubt.fraction", "must be above 0 and below 1, got %v", c.Doubt.Fraction)
	}
	return nil
}

// SafetimeInput is the self-fencing timing as package safetime sees it.
func (c Config) SafetimeInput() safetime.Input {
	return safetime.Input{
		ReportInterval:   c.Agent.ReportInterval.Std(),
		IsolationTimeout: c.SelfFence.IsolationTimeout.Std(),
		WatchdogTimeout:  c.SelfFence.WatchdogTimeout.Std(),
	}
}

func (c Config) checkSelfFence() error {
	if !c.SelfFence.Enabled {
		return nil
	}
	err := safetime.Check(c.SelfFence.AssumeDeadAfter.Std(), c.SafetimeInput())
	var fe *safetime.FieldError
	if errors.As(err, &fe) {
		return &Error{Path: fe.Field, Msg: fe.Msg, Err: fe.Err}
	}
	return err
}

func (c Config) checkDomains() error {
	used := map[string]bool{}
	for _, h := range c.Hosts {
		used[h.Domain] = true
	}
	for _, name := range sortedKeys(c.Fencing.Domains) {
		p := "fencing.domains." + name
		if !nameRE.MatchString(name) {
			return invalid(p, "%q is not a failure domain name (letters, digits, _ and -)", name)
		}
		if name != DefaultDomain && !used[name] {
			return invalid(p, "no host is in domain %q; fix the name or set domain: %s on its hosts (%q applies to hosts without one)", name, name, DefaultDomain)
		}
		if len(c.Fencing.Domains[name].Levels) == 0 {
			return invalid(p+".levels", "no fence levels; list at least one level of devices")
		}
		if err := checkTopology(p, c.Fencing.Domains[name]); err != nil {
			return err
		}
	}
	return nil
}

func checkTopology(path string, t Topology) error {
	for i, level := range t.Levels {
		lp := fmt.Sprintf("%s.levels[%d]", path, i)
		if len(level) == 0 {
			return invalid(lp, "empty level; list at least one device or remove the level")
		}
		for j, d := range level {
			if err := checkDevice(fmt.Sprintf("%s[%d]", lp, j), d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c Config) checkHosts() error {
	if len(c.Hosts) == 0 {
		return invalid("hosts", "no hosts; list the compute hosts vigil protects")
	}
	seen := map[string]int{}
	for i, h := range c.Hosts {
		p := "hosts[" + strconv.Itoa(i) + "]"
		if !hostRE.MatchString(h.Name) {
			return invalid(p+".name", "%q is not a host name; use the hypervisor host name Nova reports", h.Name)
		}
		if j, dup := seen[h.Name]; dup {
			return invalid(p+".name", "host %q is already listed as hosts[%d]", h.Name, j)
		}
		seen[h.Name] = i
		if h.Domain != "" && !nameRE.MatchString(h.Domain) {
			return invalid(p+".domain", "%q is not a failure domain name (letters, digits, _ and -)", h.Domain)
		}
		if h.BMC.Address != "" && !validAddress(h.BMC.Address) {
			return invalid(p+".bmc.address", "%q is not a host name or IP address; write it without scheme or port", h.BMC.Address)
		}
		if h.BMC.Port < 0 || h.BMC.Port > 65535 {
			return invalid(p+".bmc.port", "%d is not a TCP port (1-65535)", h.BMC.Port)
		}
		if h.BMC.Endpoint != "" {
			// http is judged per device, against its insecure key, by Levels.
			if msg := checkEndpoint(h.BMC.Endpoint, true); msg != "" {
				return invalid(p+".bmc.endpoint", "%s", msg)
			}
		}
		ips := map[netip.Addr]bool{}
		for k, s := range h.StorageIPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" {
				return invalid(fmt.Sprintf("%s.storage_ips[%d]", p, k), "%q is not an IP address", s)
			}
			if ips[ip] {
				return invalid(fmt.Sprintf("%s.storage_ips[%d]", p, k), "%s is listed twice", s)
			}
			ips[ip] = true
		}
		if err := checkTopology(p+".fencing", h.Fencing); err != nil {
			return err
		}
		if _, err := c.Levels(h.Name); err != nil {
			return err
		}
	}
	return nil
}
