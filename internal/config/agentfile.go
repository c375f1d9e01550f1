package config

import (
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// AgentFile is the compute host agent's configuration (vigil agent
// --config FILE). Parsed like the controllers' file: unknown keys, wrong
// types and impossible values are refused with the key's path and line.
type AgentFile struct {
	// Host is this host's name as Nova knows it (hypervisor hostname).
	Host string `yaml:"host"`
	// Networks are the networks the agent reports on, each with its local
	// address and the controllers' addresses on it. They must be the
	// controllers' networks (the controllers' file, networks).
	Networks []AgentNetwork `yaml:"networks"`
	// KeyFile is this host's key file (vigil keys host).
	KeyFile string `yaml:"key_file"`
	// StateDir keeps what a restarted agent resumes from (its last grant).
	StateDir string `yaml:"state_dir"` // default /var/lib/vigil-agent
	// ReportInterval: how often the agent reports and checks isolation;
	// the controllers' agent.report_interval.
	ReportInterval Duration       `yaml:"report_interval"` // default 1s
	Isolation      AgentIsolation `yaml:"isolation"`
	Watchdog       AgentWatchdog  `yaml:"watchdog"`
	Services       AgentServices  `yaml:"services"`
	Libvirt        AgentLibvirt   `yaml:"libvirt"`
	Heartbeat      AgentHeartbeat `yaml:"heartbeat"`
	// Pools is peer probing: on every network the agent runs a memberlist
	// pool with the other hosts' agents, watches a few of them and reports
	// which answered (decision.PeerReport). Each network's address and
	// seeds are its pool.
	Pools AgentPools `yaml:"pools"`
}

// AgentPools is how the agent probes its peers, on every network.
type AgentPools struct {
	// Enabled runs the pools; false for none (the controllers then hear no
	// peer about this host, nor this host about its peers).
	Enabled bool `yaml:"enabled"` // default true
	// Watch is how many peers this host watches and reports on each
	// network, every report interval (its successors on a hash ring of
	// the members): what each host sends stays this small whatever the
	// size of the cloud.
	Watch int `yaml:"watch"` // default 3
	// PingTimeout is how long a watched peer has to answer: a peer is
	// reported reachable only if it answered within it. With
	// report_interval it must stay below half the controllers'
	// detection.agent_timeout (1 s + 250 ms < 1.5 s at the defaults).
	PingTimeout Duration `yaml:"ping_timeout"` // default 250ms
}

// AgentPool is one network's pool.
type AgentPool struct {
	// Port is the pool's port (UDP and TCP) on listen's address.
	Port int `yaml:"port,omitempty"` // default listen's port + 1
	// Join are other hosts' pool addresses (ip:port) to join through, at
	// start and every 10 s for those not in the pool: give every host the
	// same few, on different racks.
	Join []string `yaml:"join,omitempty"` // default every peer's addr, port + 1
}

// AgentNetwork is one network the agent reports on.
type AgentNetwork struct {
	Name string `yaml:"name"`
	// Listen is the local address and port the agent binds on this network.
	Listen string `yaml:"listen"`
	// Controllers are the controllers' addresses (ip:port) on it.
	Controllers []string `yaml:"controllers"`
	// Peers are hosts that relay for this one when every direct path is
	// cut, and the only ones it relays for: each one's name and its
	// agent's listen address on this network.
	Peers []AgentPeer `yaml:"peers,omitempty"`
	// Pool is this network's peer pool (pools).
	Pool AgentPool `yaml:"pool,omitempty"`
}

// PoolAddr is the pool's address on n: listen's address, pool.port or
// listen's port + 1 (invalid if listen is).
func (n AgentNetwork) PoolAddr() netip.AddrPort {
	l, err := netip.ParseAddrPort(n.Listen)
	if err != nil {
		return netip.AddrPort{}
	}
	port := n.Pool.Port
	if port == 0 {
		port = int(l.Port()) + 1
	}
	if port < 1 || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(l.Addr(), uint16(port))
}

// PoolJoin is where n's pool joins: pool.join, or every peer's addr at
// its port + 1 (those peers' default pool port).
func (n AgentNetwork) PoolJoin() []netip.AddrPort {
	var out []netip.AddrPort
	if len(n.Pool.Join) > 0 {
		for _, j := range n.Pool.Join {
			if a, err := netip.ParseAddrPort(j); err == nil {
				out = append(out, a)
			}
		}
		return out
	}
	for _, p := range n.Peers {
		if a, err := netip.ParseAddrPort(p.Addr); err == nil && a.Port() < 65535 {
			out = append(out, netip.AddrPortFrom(a.Addr(), a.Port()+1))
		}
	}
	return out
}

// AgentPeer is another host's agent on one network.
type AgentPeer struct {
	Host string `yaml:"host"`
	Addr string `yaml:"addr"`
}

// AgentIsolation is what the agent does once no grant has come for
// Timeout: the watchdog is no longer fed either way.
type AgentIsolation struct {
	// Timeout must equal the controllers' self_fence.isolation_timeout
	// (the safe time counts with it; the agent reports it, and a longer
	// one makes its watchdog no fence).
	Timeout Duration `yaml:"timeout"` // default 10s
	// Response: none, stop-vms (destroy every guest first) or reboot.
	Response string `yaml:"response"` // default none
}

// AgentWatchdog is the hardware timer that resets the host when it is no
// longer fed.
type AgentWatchdog struct {
	// Device is the watchdog device, e.g. /dev/watchdog; "" for none (then
	// vigil never counts this host's watchdog as its fence).
	Device string `yaml:"device,omitempty"`
	// Timeout is asked of the device, whole seconds; the controllers'
	// self_fence.watchdog_timeout must be at least what the device reads
	// back.
	Timeout Duration `yaml:"timeout"` // default 10s
}

// AgentServices says how to find nova-compute and libvirtd.
type AgentServices struct {
	NovaCompute AgentService `yaml:"nova_compute,omitempty"` // default container nova_compute
	Libvirtd    AgentService `yaml:"libvirtd,omitempty"`     // default container nova_libvirt
	// Docker is the Docker engine's endpoint for container services.
	Docker string `yaml:"docker"` // default unix:///var/run/docker.sock
}

// AgentService is one service: a Kolla container or a package's process.
type AgentService struct {
	Container string `yaml:"container,omitempty"`
	Process   string `yaml:"process,omitempty"`
}

// NovaComputeService is services.nova_compute, Kolla's container by default.
func (s AgentServices) NovaComputeService() AgentService {
	return s.NovaCompute.or(AgentService{Container: "nova_compute"})
}

// LibvirtdService is services.libvirtd, Kolla's container by default.
func (s AgentServices) LibvirtdService() AgentService {
	return s.Libvirtd.or(AgentService{Container: "nova_libvirt"})
}

func (s AgentService) or(def AgentService) AgentService {
	if s.Container == "" && s.Process == "" {
		return def
	}
	return s
}

// AgentLibvirt is how the agent reaches libvirtd for the guest list.
type AgentLibvirt struct {
	Socket string `yaml:"socket"` // default /run/libvirt/libvirt-sock
	URI    string `yaml:"uri"`    // default qemu:///system
	// Hook is libvirt's qemu hook as the agent sees it (Kolla: the
	// nova_libvirt container's, mounted read-only): the heartbeat says
	// whether it runs vigil gate. Default /etc/libvirt/hooks/qemu.
	Hook string `yaml:"hook"`
}

// AgentHeartbeat is where the storage heartbeat goes: a directory on
// shared instance storage, or a Ceph pool.
type AgentHeartbeat struct {
	Dir      string `yaml:"dir,omitempty"`
	Pool     string `yaml:"pool,omitempty"`
	CephConf string `yaml:"ceph_conf,omitempty"` // default /etc/ceph/ceph.conf
	CephUser string `yaml:"ceph_user,omitempty"` // default vigil-heartbeat
}

// DefaultAgentFile is every default documented on AgentFile's fields.
func DefaultAgentFile() AgentFile {
	return AgentFile{
		StateDir:       "/var/lib/vigil-agent",
		ReportInterval: sec(1),
		Isolation:      AgentIsolation{Timeout: sec(10), Response: "none"},
		Watchdog:       AgentWatchdog{Timeout: sec(10)},
		Services:       AgentServices{Docker: "unix:///var/run/docker.sock"}, // the services: NovaComputeService, LibvirtdService
		Libvirt:        AgentLibvirt{Socket: "/run/libvirt/libvirt-sock", URI: "qemu:///system", Hook: "/etc/libvirt/hooks/qemu"},
		Pools:          AgentPools{Enabled: true, Watch: 3, PingTimeout: Duration(250 * time.Millisecond)},
	}
}

// ParseAgentFile reads an agent file's content over the defaults and
// validates it.
func ParseAgentFile(data []byte) (AgentFile, error) { return parseValidate(data, DefaultAgentFile()) }

// LoadAgentFile reads, parses and validates the agent file at path.
func LoadAgentFile(path string) (AgentFile, error) { return loadFile(path, DefaultAgentFile()) }

// Validate reports the first setting that is missing or impossible, as an
// *Error naming its YAML path.
func (a AgentFile) Validate() error {
	switch {
	case a.Host == "":
		return invalid("host", "missing: this host's name as Nova knows it (openstack hypervisor list)")
	case !nameRE.MatchString(strings.ReplaceAll(a.Host, ".", "-")):
		return invalid("host", "%q is not a host name", a.Host)
	case len(a.Networks) == 0:
		return invalid("networks", "at least one network is needed, each with name, listen and controllers, e.g. mgmt and storage")
	case a.KeyFile == "":
		return invalid("key_file", "missing: this host's key file (vigil keys host %s --secrets FILE --out DIR, on a controller)", a.Host)
	case !filepath.IsAbs(a.KeyFile):
		return invalid("key_file", "%q is not an absolute path", a.KeyFile)
	case !filepath.IsAbs(a.StateDir):
		return invalid("state_dir", "%q is not an absolute path", a.StateDir)
	case !filepath.IsAbs(a.Libvirt.Hook):
		return invalid("libvirt.hook", "%q is not an absolute path (libvirt's qemu hook, e.g. /etc/libvirt/hooks/qemu)", a.Libvirt.Hook)
	case a.ReportInterval <= 0:
		return invalid("report_interval", "must be a positive duration, got %v", a.ReportInterval)
	case a.Isolation.Timeout < 2*a.ReportInterval:
		return invalid("isolation.timeout", "%v is shorter than two report intervals (%v): every lost report would isolate the host", a.Isolation.Timeout, 2*a.ReportInterval)
	}
	switch a.Isolation.Response {
	case "none", "stop-vms", "reboot":
	default:
		return invalid("isolation.response", "%q: want none, stop-vms or reboot", a.Isolation.Response)
	}
	if a.Watchdog.Device != "" {
		if !filepath.IsAbs(a.Watchdog.Device) {
			return invalid("watchdog.device", "%q is not an absolute path (e.g. /dev/watchdog), or leave it out for none", a.Watchdog.Device)
		}
		if t := a.Watchdog.Timeout.Std(); t < time.Second || t%time.Second != 0 {
			return invalid("watchdog.timeout", "%v: a watchdog takes whole seconds, at least 1s", t)
		}
	}
	if a.Pools.Enabled {
		switch {
		case a.Pools.Watch < 1 || a.Pools.Watch > maxPoolWatch:
			return invalid("pools.watch", "%d: give 1 to %d peers to watch on each network (3 by default)", a.Pools.Watch, maxPoolWatch)
		case a.Pools.PingTimeout <= 0 || 2*a.Pools.PingTimeout.Std() > a.ReportInterval.Std():
			return invalid("pools.ping_timeout", "%v: give a positive duration of at most half the report interval (%v); 250ms by default", a.Pools.PingTimeout, a.ReportInterval)
		}
	}
	seen := map[string]bool{}
	bound := map[netip.AddrPort]string{} // what the agent binds: listen, and pool
	for i, n := range a.Networks {
		p := "networks[" + strconv.Itoa(i) + "]"
		if err := n.check(p); err != nil {
			return err
		}
		if err := n.checkPool(p); err != nil {
			return err
		}
		l, _ := netip.ParseAddrPort(n.Listen)
		binds := []struct {
			path string
			addr netip.AddrPort
		}{{p + ".listen", l}}
		if a.Pools.Enabled {
			binds = append(binds, struct {
				path string
				addr netip.AddrPort
			}{p + ".pool.port", n.PoolAddr()})
		}
		for _, b := range binds {
			if other, ok := bound[b.addr]; ok {
				return invalid(b.path, "%v is bound by %s too: give each its own address or port", b.addr, other)
			}
			bound[b.addr] = b.path
		}
		for j, c := range n.Peers {
			if c.Host == a.Host {
				return invalid(p+".peers["+strconv.Itoa(j)+"].host", "%q is this host: a host does not relay for itself", c.Host)
			}
		}
		if seen[n.Name] {
			return invalid(p+".name", "network %q is listed twice", n.Name)
		}
		seen[n.Name] = true
	}
	for _, s := range []struct {
		path string
		svc  AgentService
	}{{"services.nova_compute", a.Services.NovaCompute}, {"services.libvirtd", a.Services.Libvirtd}} {
		if s.svc.Container != "" && s.svc.Process != "" {
			return invalid(s.path, "give one of container (Kolla: nova_compute, nova_libvirt) or process (packages: nova-compute, libvirtd), not both")
		}
	}
	switch hb := a.Heartbeat; {
	case hb.Dir != "" && hb.Pool != "":
		return invalid("heartbeat", "give one of dir (shared instance storage) or pool (Ceph), not both")
	case hb.Dir != "" && !filepath.IsAbs(hb.Dir):
		return invalid("heartbeat.dir", "%q is not an absolute path", hb.Dir)
	case hb.Dir == "" && hb.Pool == "":
		return invalid("heartbeat", "missing: give pool (the Ceph pool for heartbeats, e.g. vigil-heartbeat) or dir (a directory on shared instance storage); without it vigil cannot tell a host cut off from the controllers from a dead one")
	}
	return nil
}

// maxPoolWatch is pool.MaxWatch (config imports no agent package).
const maxPoolWatch = 16

func (n AgentNetwork) checkPool(p string) error {
	l, _ := netip.ParseAddrPort(n.Listen) // checked
	switch pa := n.PoolAddr(); {
	case n.Pool.Port != 0 && (n.Pool.Port < 1 || n.Pool.Port > 65535):
		return invalid(p+".pool.port", "%d is no port", n.Pool.Port)
	case !pa.IsValid():
		return invalid(p+".pool.port", "listen's port + 1 is no port: give one")
	case pa.Port() == l.Port():
		return invalid(p+".pool.port", "%d is listen's port: the pool needs a port of its own", pa.Port())
	}
	for j, s := range n.Pool.Join {
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			return invalid(p+".pool.join["+strconv.Itoa(j)+"]", "%q: want another host's pool address, ip:port (%v)", s, err)
		}
		if a == n.PoolAddr() {
			return invalid(p+".pool.join["+strconv.Itoa(j)+"]", "%q is this host's own pool address", s)
		}
	}
	return nil
}

func (n AgentNetwork) check(p string) error {
	if !nameRE.MatchString(n.Name) {
		return invalid(p+".name", "%q is not a network name (letters, digits, _ and -)", n.Name)
	}
	if _, err := netip.ParseAddrPort(n.Listen); err != nil {
		return invalid(p+".listen", "%q: want this host's address and port on %s, e.g. 10.0.0.11:7401 (%v)", n.Listen, n.Name, err)
	}
	if len(n.Controllers) == 0 {
		return invalid(p+".controllers", "at least one controller address (ip:port) on %s is needed", n.Name)
	}
	for j, c := range n.Controllers {
		if _, err := netip.ParseAddrPort(c); err != nil {
			return invalid(p+".controllers["+strconv.Itoa(j)+"]", "%q: want ip:port (%v)", c, err)
		}
	}
	for j, c := range n.Peers {
		q := p + ".peers[" + strconv.Itoa(j) + "]"
		if c.Host == "" {
			return invalid(q+".host", "missing: the peer's host name as Nova knows it")
		}
		if _, err := netip.ParseAddrPort(c.Addr); err != nil {
			return invalid(q+".addr", "%q: want ip:port of %s's agent on %s (%v)", c.Addr, c.Host, n.Name, err)
		}
	}
	return nil
}
