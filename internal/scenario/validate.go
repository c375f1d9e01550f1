package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/sim"
)

var states = map[string]bool{
	"unknown": true, "healthy": true, "service-degraded": true, "network-degraded": true, "isolated": true,
	"suspect": true, "failed": true, "fencing": true, "fenced": true, "recovering": true, "recovered": true,
	"rejoining": true, "maintenance": true,
}

// Validate checks the scenario and names the first bad field.
func (s *Scenario) Validate() error {
	if s.Name == "" {
		return bad("name", "every scenario needs a name")
	}
	c := s.Cluster
	if c.Hosts < 1 || c.Hosts > 200 {
		return bad("cluster.hosts", "must be 1..200, got %d", c.Hosts)
	}
	if c.Instances < 0 || c.Instances > 5000 {
		return bad("cluster.instances", "must be 0..5000, got %d", c.Instances)
	}
	nets := map[string]bool{}
	for _, n := range s.Networks() {
		if n == "" || nets[n] {
			return bad("cluster.networks", "names must be unique and non-empty, got %v", c.Networks)
		}
		nets[n] = true
	}
	hosts := map[string]bool{}
	for _, h := range s.HostNames() {
		hosts[h] = true
	}
	inDomain := map[string]string{}
	for d, hs := range c.Domains {
		for _, h := range hs {
			if !hosts[h] {
				return bad("cluster.domains."+d, "unknown host %q (hosts are cmp1..cmp%d)", h, c.Hosts)
			}
			if o, dup := inDomain[h]; dup {
				return bad("cluster.domains."+d, "host %s is already in domain %s", h, o)
			}
			inDomain[h] = d
		}
	}
	for i, level := range c.Fencing {
		for _, f := range strings.Split(level, "+") {
			if f != "ipmi" && f != "ceph-blocklist" {
				return bad(fmt.Sprintf("cluster.fencing[%d]", i), "%q is not a fence device the simulator models: use ipmi, ceph-blocklist, or both in one level as ipmi+ceph-blocklist", f)
			}
		}
	}
	if wd := c.Watchdog; wd != nil && (wd.IsolationTimeout <= 0 || wd.WatchdogTimeout <= 0) {
		return bad("cluster.watchdog", "needs isolation_timeout and watchdog_timeout, both positive")
	}
	if wd := c.Watchdog; wd != nil && 2*c.MessageDelay+Duration(time.Second) >= wd.IsolationTimeout {
		return bad("cluster.message_delay", "%v each way leaves no grant fresh for long enough: a report's round trip (2 × %v) plus the agent's report interval (1s) must be shorter than cluster.watchdog.isolation_timeout (%v), or every host resets itself", time.Duration(c.MessageDelay), time.Duration(c.MessageDelay), time.Duration(wd.IsolationTimeout))
	}
	if c.MessageDelay > Duration(5*time.Second) {
		return bad("cluster.message_delay", "%v is more than 5s; the simulator models a slow network, not a dead one (use cut or partition)", time.Duration(c.MessageDelay))
	}
	for m, r := range c.ClockRates {
		if m != "controllers" && !hosts[m] {
			return bad("cluster.clock_rates."+m, "neither a host nor controllers")
		}
		if !(r >= 0.5 && r <= 2) {
			return bad("cluster.clock_rates."+m, "%v is not a clock rate between 0.5 and 2 (1.02 is 2%% fast)", r)
		}
	}
	if e := time.Duration(c.BlocklistExpire); e != 0 && e < time.Second {
		return bad("cluster.blocklist_expire", "must be at least 1s, got %v (vigil's device uses 24h and refuses less than 1h)", e)
	}
	if err := s.validateCapacity(hosts); err != nil {
		return err
	}
	if l := time.Duration(s.Nova.EvacuateLatency); l > 30*time.Second {
		return bad("nova.evacuate_latency", "must be 0..30s (the gap between the executor's fence re-read and Nova accepting), got %v", l)
	}
	if s.Nova.ReportInterval < 0 || (s.Nova.ServiceDownTime > 0 && s.Nova.ServiceDownTime <= s.Nova.ReportInterval) {
		return bad("nova.service_down_time", "must be longer than report_interval")
	}
	if v := s.Vigil; v != nil {
		if p := decision.RejoinPolicy(v.Recovery.Rejoin); p != "" && p != decision.RejoinManual && p != decision.RejoinAuto {
			return bad("vigil.recovery.rejoin", "%q is neither manual (a clean host waits for the rejoin verb) nor auto (it rejoins by itself, the scenarios' default)", p)
		}
	}
	if s.Duration <= 0 || time.Duration(s.Duration) > 2*time.Hour {
		return bad("run", "must be between 1s and 2h, got %v", time.Duration(s.Duration))
	}
	for i, f := range s.Faults {
		if err := s.validateFault(f, hosts, nets); err != nil {
			return bad(fmt.Sprintf("faults[%d]", i), "%v", err)
		}
	}
	e := s.Expect
	for _, h := range e.Fenced {
		if !hosts[h] {
			return bad("expect.fenced", "unknown host %q", h)
		}
	}
	for h, st := range e.States {
		if !hosts[h] {
			return bad("expect.states", "unknown host %q", h)
		}
		if !states[st] {
			return bad("expect.states."+h, "unknown state %q", st)
		}
	}
	return nil
}

func (s *Scenario) validateFault(f Fault, hosts, nets map[string]bool) error {
	verbs := []struct {
		name string
		set  bool
	}{
		{"stop", f.Stop != ""}, {"crash", f.Crash != ""}, {"stall", f.Stall != ""}, {"isolate", f.Isolate != ""},
		{"power", f.Power != ""}, {"cut", f.Cut != ""}, {"partition", f.Partition != ""},
		{"bmc", f.BMC != ""}, {"hang", f.Hang != ""}, {"watchdog", f.Watchdog != ""}, {"storage", f.Storage != ""}, {"blocklist", f.Blocklist != ""}, {"kill", f.Kill != ""},
		{"flap", f.Flap != ""}, {"maintenance", f.Maintenance != ""}, {"confirm", f.Confirm != ""},
		{"rejoin", f.Rejoin != ""}, {"release", f.Release != ""}, {"instance", f.Instance != ""}, {"rebuild", f.Rebuild != ""}, {"pause", f.Pause != ""},
	}
	var set []string
	for _, v := range verbs {
		if v.set {
			set = append(set, v.name)
		}
	}
	if len(set) != 1 {
		var names []string
		for _, v := range verbs {
			names = append(names, v.name)
		}
		return fmt.Errorf("needs exactly one verb (%s), got %d: %s", strings.Join(names, ", "), len(set), strings.Join(set, ", "))
	}
	if time.Duration(f.At) > time.Duration(s.Duration) {
		return fmt.Errorf("at %v is after the end of the run (%v)", time.Duration(f.At), time.Duration(s.Duration))
	}
	needHost := func() error {
		if !hosts[f.Host] {
			return fmt.Errorf("host: %q is not a host of this cluster (cmp1..cmp%d)", f.Host, s.Cluster.Hosts)
		}
		return nil
	}
	noHost := func(verb string) error {
		if f.Host != "" {
			return fmt.Errorf("host: %s applies to the whole cluster; remove host", verb)
		}
		return nil
	}
	if f.VM != "" && set[0] != "instance" {
		return fmt.Errorf("vm: only the instance verb takes vm; remove it")
	}
	switch set[0] {
	case "stop":
		if f.Stop != "nova-compute" && f.Stop != "libvirtd" && f.Stop != "agent" {
			return fmt.Errorf("stop: %q is not nova-compute, libvirtd or agent", f.Stop)
		}
		return needHost()
	case "crash":
		if f.Crash != "nova-compute" && f.Crash != "libvirtd" && f.Crash != "agent" {
			return fmt.Errorf("crash: %q is not nova-compute, libvirtd or agent", f.Crash)
		}
		return needHost()
	case "stall":
		if f.Stall != "controller-leader" {
			return fmt.Errorf("stall: only controller-leader can be stalled, got %q", f.Stall)
		}
		if f.For <= 0 {
			return fmt.Errorf("stall needs for: how long the leader is paused")
		}
		return noHost("stall")
	case "isolate":
		if f.Isolate != "controller-leader" {
			return fmt.Errorf("isolate: only controller-leader can lose etcd, got %q", f.Isolate)
		}
		return noHost("isolate")
	case "power":
		if f.Power != "off" && f.Power != "on" {
			return fmt.Errorf("power: %q is not off or on", f.Power)
		}
		return needHost()
	case "cut":
		if !nets[f.Cut] && f.Cut != bond {
			return fmt.Errorf("cut: %q is not a network of this cluster %v, nor bond (all of them)", f.Cut, s.Networks())
		}
		return needHost()
	case "flap":
		if !nets[f.Flap] && f.Flap != bond {
			return fmt.Errorf("flap: %q is not a network of this cluster %v, nor bond (all of them)", f.Flap, s.Networks())
		}
		if f.Period < Duration(200*time.Millisecond) || f.Count < 1 {
			return fmt.Errorf("flap needs period (>= 200ms, one down+up cycle) and count (>= 1)")
		}
		return needHost()
	case "partition":
		if !nets[f.Partition] {
			return fmt.Errorf("partition: %q is not a network of this cluster %v", f.Partition, s.Networks())
		}
		if len(f.Groups) < 2 {
			return fmt.Errorf("groups: a partition needs at least two groups")
		}
		seen := map[string]bool{}
		for _, g := range f.Groups {
			for _, m := range g {
				if m == sim.Ceph {
					// Ceph is many machines: it may reach several groups.
					if f.Partition != sim.StorageNet(s.Networks()) {
						return fmt.Errorf("groups: ceph (its monitors and OSDs) is on the %s network only; name it in a partition of %s", sim.StorageNet(s.Networks()), sim.StorageNet(s.Networks()))
					}
					continue
				}
				if m != sim.Controllers && !hosts[m] {
					return fmt.Errorf("groups: %q is neither a host, controllers nor ceph", m)
				}
				if seen[m] {
					return fmt.Errorf("groups: %q is in two groups", m)
				}
				seen[m] = true
			}
		}
		return noHost("partition")
	case "bmc":
		switch f.BMC {
		case "unreachable", "reachable", "lies":
			if f.Delay > 0 {
				return fmt.Errorf("delay: only bmc slow or late takes a delay")
			}
		case "slow", "late":
			if f.Delay <= 0 || time.Duration(f.Delay) > 10*time.Minute {
				return fmt.Errorf("delay: bmc %s needs a delay between 100ms and 10m, e.g. delay: 5s", f.BMC)
			}
		default:
			return fmt.Errorf("bmc: %q is not unreachable, reachable, lies, slow or late", f.BMC)
		}
		return needHost()
	case "hang":
		if f.Hang != "host" && f.Hang != "userspace" {
			return fmt.Errorf("hang: write `hang: host` (kernel hang) or `hang: userspace` (the kernel still answers ping) with host: NAME")
		}
		return needHost()
	case "watchdog":
		if f.Watchdog != "missing" && f.Watchdog != "present" && f.Watchdog != "long" && f.Watchdog != "config" && f.Watchdog != "isolation" {
			return fmt.Errorf("watchdog: write `watchdog: missing` (from its next boot the host's agent finds no watchdog device), `watchdog: long` (its device rounds the timeout up to twice the configured one), `watchdog: config` with delay: the agent's own watchdog_timeout, `watchdog: isolation` with delay: the agent's own isolation_timeout, or `watchdog: present` with host: NAME")
		}
		if f.Watchdog == "config" && (f.Delay < Duration(time.Second) || time.Duration(f.Delay)%time.Second != 0) {
			return fmt.Errorf("delay: watchdog config needs the agent's watchdog_timeout in whole seconds, e.g. delay: 25s")
		}
		if f.Watchdog == "isolation" && f.Delay <= 0 {
			return fmt.Errorf("delay: watchdog isolation needs the agent's isolation_timeout, e.g. delay: 30s")
		}
		if s.Cluster.Watchdog == nil {
			return fmt.Errorf("watchdog: %s needs cluster.watchdog (the watchdog contract) to be configured", f.Watchdog)
		}
		return needHost()
	case "storage":
		if f.Storage != "unreachable" && f.Storage != "reachable" {
			return fmt.Errorf("storage: %q is not unreachable or reachable", f.Storage)
		}
		return noHost("storage")
	case "blocklist":
		if f.Blocklist != "expire" {
			return fmt.Errorf("blocklist: %q is not expire (the host's Ceph blocklist entries lapse now)", f.Blocklist)
		}
		if f.For != 0 {
			return fmt.Errorf("for: an expired blocklist entry does not come back; remove for")
		}
		return needHost()
	case "kill":
		if f.Kill != "controller-leader" {
			return fmt.Errorf("kill: only controller-leader can be killed, got %q", f.Kill)
		}
		return noHost("kill")
	case "maintenance":
		if f.Maintenance != "on" && f.Maintenance != "off" {
			return fmt.Errorf("maintenance: %q is not on or off", f.Maintenance)
		}
		return needHost()
	case "confirm":
		if !hosts[f.Confirm] {
			return fmt.Errorf("confirm: %q is not a host of this cluster", f.Confirm)
		}
	case "rejoin":
		if !hosts[f.Rejoin] {
			return fmt.Errorf("rejoin: %q is not a host of this cluster", f.Rejoin)
		}
	case "release":
		if !hosts[f.Release] {
			return fmt.Errorf("release: %q is not a host of this cluster", f.Release)
		}
	case "pause":
		if f.Pause != "on" && f.Pause != "off" {
			return fmt.Errorf("pause: %q: want on (with for: resumed after it) or off", f.Pause)
		}
	case "instance":
		return s.validateInstanceFault(f, needHost)
	case "rebuild":
		if f.Rebuild != "fails" {
			return fmt.Errorf("rebuild: %q is not fails (rebuilds on host end in ERROR there)", f.Rebuild)
		}
		return needHost()
	}
	return nil
}

// validateInstanceFault checks an instance verb: which instance, and what
// host and for mean for its state.
func (s *Scenario) validateInstanceFault(f Fault, needHost func() error) error {
	vms := s.InstanceNames()
	if !slices.Contains(vms, f.VM) {
		if len(vms) == 0 {
			return fmt.Errorf("vm: %q: this cluster has no instances (cluster.instances)", f.VM)
		}
		return fmt.Errorf("vm: %q is not an instance of this cluster (%s..%s)", f.VM, vms[0], vms[len(vms)-1])
	}
	switch f.Instance {
	case "shutoff", "error":
		if f.For != 0 || f.Host != "" {
			return fmt.Errorf("instance: %s lasts (starting or repairing it again is not modelled): remove for and host", f.Instance)
		}
	case "migrating":
		if f.Host != "" {
			if err := needHost(); err != nil {
				return err
			}
			if f.For != 0 {
				return fmt.Errorf("for: a live migration that switched over to %s stays in flight; remove for", f.Host)
			}
		}
	case "deleting", "rebuilding":
		if f.Host != "" {
			return fmt.Errorf("host: instance: %s takes no host; remove it", f.Instance)
		}
	default:
		return fmt.Errorf("instance: %q is not shutoff, error, migrating, deleting or rebuilding", f.Instance)
	}
	return nil
}

// validateCapacity checks the hosts' capacities, and that the instances
// placed round-robin at the start fit in them.
func (s *Scenario) validateCapacity(hosts map[string]bool) error {
	c := s.Cluster
	if c.Capacity < 0 {
		return bad("cluster.capacity", "must be 0 (unlimited) or more, got %d", c.Capacity)
	}
	for h, n := range c.HostCapacity {
		if !hosts[h] {
			return bad("cluster.host_capacity."+h, "unknown host (hosts are cmp1..cmp%d)", c.Hosts)
		}
		if n < 1 {
			return bad("cluster.host_capacity."+h, "must be at least 1, got %d (leave the host out for cluster.capacity)", n)
		}
	}
	placed := map[string]int{}
	names := s.HostNames()
	for i := 0; i < c.Instances; i++ {
		placed[names[i%len(names)]]++
	}
	capacity := s.Capacities()
	for _, h := range names {
		if n := capacity[h]; n > 0 && placed[h] > n {
			return bad("cluster.capacity", "%s holds %d instances at the start (placed round-robin) but its capacity is %d: raise it or place fewer instances", h, placed[h], n)
		}
	}
	return nil
}
