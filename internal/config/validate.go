package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/safetime"
)

// Validate reports the first setting that is missing, impossible or unsafe,
// as an *Error naming its YAML path (errors.Is(err, ErrInvalid)). It applies
// the decision engine's rules in the file's terms, then decision's own
// Validate as a backstop.
func (c Config) Validate() error {
	for _, check := range []func() error{
		c.checkNetworks, c.checkTimings, c.checkSelfFence, c.checkDomains, c.checkHosts, c.checkController,
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

// checkTimings applies the decision engine's rules (they name settings by
// their path in this file) and the rules that only the file knows about.
func (c Config) checkTimings() error {
	if c.Agent.ReportInterval <= 0 {
		return invalid("agent.report_interval", "must be a positive duration, got %v", c.Agent.ReportInterval)
	}
	dc := c.Decision()
	dc.FenceLevels = max(dc.FenceLevels, 1) // hosts and their levels are checked by checkHosts
	var fe *decision.FieldError
	if err := dc.Validate(); errors.As(err, &fe) {
		return invalid(fe.Field, "%s", fe.Msg)
	} else if err != nil {
		return err
	}
	if d := c.Detection; d.AgentTimeout < 2*c.Agent.ReportInterval {
		return invalid("detection.agent_timeout", "%v is less than twice agent.report_interval (%v): one late report would count as a lost network", d.AgentTimeout, c.Agent.ReportInterval)
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
		if err := checkKdumpLevel(lp, level); err != nil {
			return err
		}
	}
	return nil
}

// checkKdumpLevel refuses a kdump device in a level with a power device:
// every device of a level must succeed, so the power would be cut as soon
// as the host's message arrived, ending the dump the kdump device waits
// for. A level before the power level is the way. It also refuses a kdump
// level without a storage fence: a fence_kdump message is an
// unauthenticated UDP datagram, so a level that succeeds on it alone lets
// whoever can send one from the host's kdump_ips (the host itself, if it
// still runs) make vigil evacuate with the old guests still writing.
func checkKdumpLevel(lp string, level []Device) error {
	if !slices.ContainsFunc(level, func(d Device) bool { return d.Driver == DriverKdump }) {
		return nil
	}
	for j, d := range level {
		if d.IsPowerFence() {
			return invalid(fmt.Sprintf("%s[%d]", lp, j), "a %s power fence in the level of a kdump device would cut the power as soon as the host's fence_kdump message arrived, ending the dump the kdump device waits for; put the kdump device (with a ceph-blocklist device) in a level before this one", d.Driver)
		}
	}
	if !slices.ContainsFunc(level, Device.IsStorageFence) {
		return invalid(lp, "a kdump device succeeds on a fence_kdump message, an unauthenticated UDP datagram: whoever can send one from the host's kdump_ips (the host itself, if it still runs) would make vigil evacuate without cutting its power or its storage; add a ceph-blocklist device to this level (or a fence-agent with kind: storage, such as fence_scsi)")
	}
	return nil
}

func (c Config) checkHosts() error {
	if len(c.Hosts) == 0 {
		return invalid("hosts", "no hosts; list the compute hosts vigil protects")
	}
	seen := map[string]int{}
	kdumpIPs := map[netip.Addr]int{} // whose kdump_ips each address is
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
		if err := checkIPs(p+".storage_ips", h.StorageIPs); err != nil {
			return err
		}
		if err := checkIPs(p+".kdump_ips", h.KdumpIPs); err != nil {
			return err
		}
		for k, s := range h.KdumpIPs {
			ip, _ := netip.ParseAddr(s)
			if j, dup := kdumpIPs[ip]; dup {
				return invalid(fmt.Sprintf("%s.kdump_ips[%d]", p, k), "%s is also a kdump_ips address of hosts[%d] (%s): a fence_kdump message from one host would count as the other's; give each host only its own addresses", s, j, c.Hosts[j].Name)
			}
			kdumpIPs[ip] = i
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

// checkIPs checks a host's list of its own addresses at path.
func checkIPs(path string, list []string) error {
	ips := map[netip.Addr]bool{}
	for k, s := range list {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" {
			return invalid(fmt.Sprintf("%s[%d]", path, k), "%q is not an IP address", s)
		}
		if ip.IsUnspecified() || ip.IsMulticast() {
			return invalid(fmt.Sprintf("%s[%d]", path, k), "%s is not a host's own unicast address", s)
		}
		if ips[ip] {
			return invalid(fmt.Sprintf("%s[%d]", path, k), "%s is listed twice", s)
		}
		ips[ip] = true
	}
	return nil
}
