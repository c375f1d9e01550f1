package config_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/safetime"
)

func dur(d time.Duration) config.Duration { return config.Duration(d) }

// dev returns a pointer to the base config's one default-domain device.
func dev(c *config.Config) *config.Device { return &c.Fencing.Domains["default"].Levels[0][0] }

// setDev replaces the default domain's only device.
func setDev(c *config.Config, d config.Device) { c.Fencing.Domains["default"].Levels[0][0] = d }

func TestValidateErrors(t *testing.T) {
	const dd = "fencing.domains.default.levels[0][0]"
	ipmi := config.Device{Driver: "ipmi", Username: "admin", PasswordFile: "/etc/vigil/bmc.pass"}
	redfish := config.Device{Driver: "redfish", Username: "admin", PasswordEnv: "RF_PASS"}
	agent := config.Device{Driver: "fence-agent", Agent: "fence_ipmilan"}
	ceph := config.Device{Driver: "ceph-blocklist"}
	kdump := config.Device{Driver: "kdump"}
	withKdumpIPs := func(c *config.Config) {
		c.Hosts[0].KdumpIPs, c.Hosts[1].KdumpIPs = []string{"10.0.0.21"}, []string{"10.0.0.22"}
	}
	with := func(d config.Device, f func(*config.Device)) config.Device { f(&d); return d }

	tests := []struct {
		name     string
		change   func(*config.Config)
		wantPath string
		wantText string
		wantIs   error // besides ErrInvalid
	}{
		// networks
		{"no networks", func(c *config.Config) { c.Networks = nil }, "networks", "at least one network", nil},
		{"duplicate network", func(c *config.Config) { c.Networks = []string{"a", "a"} }, "networks[1]", "twice", nil},
		{"bad network name", func(c *config.Config) { c.Networks = []string{"a b"} }, "networks[0]", "not a network name", nil},

		// timings
		{"zero agent timeout", func(c *config.Config) { c.Detection.AgentTimeout = 0 }, "detection.agent_timeout", "positive", nil},
		{"negative peer timeout", func(c *config.Config) { c.Detection.PeerTimeout = dur(-time.Second) }, "detection.peer_timeout", "positive", nil},
		{"zero storage timeout", func(c *config.Config) { c.Detection.StorageTimeout = 0 }, "detection.storage_timeout", "positive", nil},
		{"zero dead after", func(c *config.Config) { c.Detection.DeadAfter = 0 }, "detection.dead_after", "positive", nil},
		{"zero bmc freshness", func(c *config.Config) { c.Detection.BMCFreshness = 0 }, "detection.bmc_freshness", "positive", nil},
		{"zero failover grace", func(c *config.Config) { c.Detection.FailoverGrace = 0 }, "detection.failover_grace", "positive", nil},
		{"zero fence retry", func(c *config.Config) { c.Recovery.FenceRetry = 0 }, "recovery.fence_retry", "positive", nil},
		{"zero fence retry max", func(c *config.Config) { c.Recovery.FenceRetryMax = 0 }, "recovery.fence_retry_max", "positive", nil},
		{"zero evacuate retry", func(c *config.Config) { c.Recovery.EvacuateRetry = 0 }, "recovery.evacuate_retry", "positive", nil},
		{"zero brake window", func(c *config.Config) { c.Brake.Window = 0 }, "brake.window", "positive", nil},
		{"zero report interval", func(c *config.Config) { c.Agent.ReportInterval = 0 }, "agent.report_interval", "positive", nil},
		{"dead after below agent timeout", func(c *config.Config) { c.Detection.DeadAfter = dur(2 * time.Second) }, "detection.dead_after", "detection.agent_timeout", nil},
		{"dead after below storage timeout", func(c *config.Config) { c.Detection.StorageTimeout = dur(7 * time.Second) }, "detection.dead_after", "detection.storage_timeout", nil},
		{"dead after below peer timeout", func(c *config.Config) { c.Detection.PeerTimeout = dur(7 * time.Second) }, "detection.dead_after", "detection.peer_timeout", nil},
		{"failover grace below dead after", func(c *config.Config) { c.Detection.FailoverGrace = dur(5 * time.Second) }, "detection.failover_grace", "new leader", nil},
		{"agent timeout below two reports", func(c *config.Config) { c.Agent.ReportInterval = dur(2 * time.Second) }, "detection.agent_timeout", "twice agent.report_interval", nil},
		{"fence renew too rare", func(c *config.Config) { c.Recovery.FenceRenew = dur(time.Hour) }, "recovery.fence_renew", "30m", nil},
		{"retry max below retry", func(c *config.Config) { c.Recovery.FenceRetryMax = dur(time.Second) }, "recovery.fence_retry_max", "recovery.fence_retry", nil},
		{"no concurrent fences", func(c *config.Config) { c.Recovery.MaxConcurrentFences = 0 }, "recovery.max_concurrent_fences", "at least 1", nil},
		{"no evacuate attempts", func(c *config.Config) { c.Recovery.EvacuateAttempts = 0 }, "recovery.evacuate_attempts", "at least 1", nil},
		{"unknown rejoin policy", func(c *config.Config) { c.Recovery.Rejoin = "automatic" }, "recovery.rejoin", `"manual"`, nil},
		{"empty rejoin policy", func(c *config.Config) { c.Recovery.Rejoin = "" }, "recovery.rejoin", `"auto"`, nil},
		{"brake max hosts", func(c *config.Config) { c.Brake.MaxHosts = 0 }, "brake.max_hosts", "at least 1", nil},
		{"doubt min hosts", func(c *config.Config) { c.Doubt.MinHosts = -1 }, "doubt.min_hosts", "at least 1", nil},
		{"brake fraction zero", func(c *config.Config) { c.Brake.MaxFraction = 0 }, "brake.max_fraction", "above 0", nil},
		{"brake fraction above one", func(c *config.Config) { c.Brake.MaxFraction = 1.5 }, "brake.max_fraction", "at most 1", nil},
		{"brake fraction NaN", func(c *config.Config) { c.Brake.MaxFraction = math.NaN() }, "brake.max_fraction", "NaN", nil},
		{"doubt fraction one", func(c *config.Config) { c.Doubt.Fraction = 1 }, "doubt.fraction", "below 1", nil},
		{"doubt fraction NaN", func(c *config.Config) { c.Doubt.Fraction = math.NaN() }, "doubt.fraction", "NaN", nil},

		// self_fence
		{"assume dead too soon", func(c *config.Config) {
			c.SelfFence.Enabled, c.SelfFence.AssumeDeadAfter = true, dur(40*time.Second)
		}, "self_fence.assume_dead_after", "40s is below the safe minimum 46s (= self_fence.isolation_timeout 10s + agent.report_interval 1s + 3 × self_fence.watchdog_timeout 10s + margin 5s); raise it to at least 46s", safetime.ErrUnsafe},
		{"zero isolation", func(c *config.Config) { c.SelfFence.Enabled, c.SelfFence.IsolationTimeout = true, 0 }, "self_fence.isolation_timeout", "positive", safetime.ErrInput},
		{"fractional watchdog", func(c *config.Config) {
			c.SelfFence.Enabled, c.SelfFence.WatchdogTimeout = true, dur(2500*time.Millisecond)
		}, "self_fence.watchdog_timeout", "whole number of seconds", safetime.ErrInput},
		{"zero assume dead", func(c *config.Config) { c.SelfFence.Enabled, c.SelfFence.AssumeDeadAfter = true, 0 }, "self_fence.assume_dead_after", "positive", safetime.ErrInput},

		// fencing domains and levels
		{"no fencing at all", func(c *config.Config) { c.Fencing.Domains = nil }, "hosts[0]", "no fence levels", nil},
		{"domain without levels", func(c *config.Config) { c.Fencing.Domains["default"] = config.Topology{} }, "fencing.domains.default.levels", "at least one level", nil},
		{"empty level", func(c *config.Config) {
			c.Fencing.Domains["default"] = config.Topology{Levels: [][]config.Device{{ipmi}, {}}}
		}, "fencing.domains.default.levels[1]", "empty level", nil},
		{"unused domain", func(c *config.Config) { c.Fencing.Domains["rakc1"] = c.Fencing.Domains["default"] }, "fencing.domains.rakc1", "no host is in domain", nil},
		{"bad domain name", func(c *config.Config) {
			c.Hosts[0].Domain = "rack 1"
		}, "hosts[0].domain", "not a failure domain name", nil},
		{"host override without bmc", func(c *config.Config) {
			c.Hosts[0].Fencing.Levels = [][]config.Device{{ipmi}}
			c.Hosts[0].BMC = config.BMC{}
		}, "hosts[0].bmc.address", "set bmc.address on the host or address on the device", nil},
		{"bad device in host override", func(c *config.Config) {
			c.Hosts[1].Fencing.Levels = [][]config.Device{{with(ipmi, func(d *config.Device) { d.Cipher = 1 })}}
		}, "hosts[1].fencing.levels[0][0].cipher", "use 3 (default) or 17", nil},

		// devices: driver
		{"no driver", func(c *config.Config) { dev(c).Driver = "" }, dd + ".driver", "missing; set one of ipmi, redfish, fence-agent, ceph-blocklist", nil},
		{"unknown driver", func(c *config.Config) { dev(c).Driver = "ilo" }, dd + ".driver", `unknown driver "ilo"`, nil},
		{"nova force-down is not a fence", func(c *config.Config) { setDev(c, config.Device{Driver: "nova-force-down"}) }, dd + ".driver", "is not a fence", nil},
		{"fence_compute is not a fence", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Agent = "fence_compute" }))
		}, dd + ".agent", "recovery step", nil},
		{"key of another driver", func(c *config.Config) { dev(c).CephUser = "admin" }, dd + ".ceph_user", "not used by the ipmi driver", nil},
		{"insecure on ipmi", func(c *config.Config) { dev(c).Insecure = true }, dd + ".insecure", "not used by the ipmi driver", nil},
		{"credentials on ceph", func(c *config.Config) {
			setDev(c, with(ceph, func(d *config.Device) { d.PasswordFile = "/p" }))
		}, dd + ".password_file", "not used by the ceph-blocklist driver", nil},

		// devices: common keys
		{"negative timeout", func(c *config.Config) { dev(c).Timeout = dur(-time.Second) }, dd + ".timeout", "out of range", nil},
		{"huge timeout", func(c *config.Config) { dev(c).Timeout = dur(time.Hour) }, dd + ".timeout", "out of range", nil},
		{"negative retries", func(c *config.Config) { dev(c).Retries = -1 }, dd + ".retries", "0 to 10", nil},
		{"address with scheme", func(c *config.Config) { dev(c).Address = "https://10.0.0.1" }, dd + ".address", "without scheme or port", nil},
		{"bad port", func(c *config.Config) { dev(c).Port = 70000 }, dd + ".port", "not a TCP port", nil},
		{"no username", func(c *config.Config) { dev(c).Username = "" }, dd + ".username", "missing", nil},
		{"control character in username", func(c *config.Config) { dev(c).Username = "a\nb" }, dd + ".username", "printable", nil},
		{"no password reference", func(c *config.Config) { dev(c).PasswordFile = "" }, dd + ".password_file", "set password_file", nil},
		{"both password references", func(c *config.Config) { dev(c).PasswordEnv = "X" }, dd + ".password_env", "keep one", nil},
		{"relative password file", func(c *config.Config) { dev(c).PasswordFile = "bmc.pass" }, dd + ".password_file", "absolute path", nil},
		{"bad env name", func(c *config.Config) {
			dev(c).PasswordFile, dev(c).PasswordEnv = "", "1X"
		}, dd + ".password_env", "not an environment variable name", nil},

		// ipmi
		{"cipher zero is default, one is not", func(c *config.Config) { dev(c).Cipher = 1 }, dd + ".cipher", "authenticate and encrypt", nil},
		{"unknown privilege", func(c *config.Config) { dev(c).Privilege = "user" }, dd + ".privilege", "operator", nil},
		{"power wait too long", func(c *config.Config) { dev(c).PowerWait = dur(2 * time.Minute) }, dd + ".power_wait", "out of range", nil},
		{"power wait not below timeout", func(c *config.Config) {
			dev(c).PowerWait, dev(c).Timeout = dur(5*time.Second), dur(5*time.Second)
		}, dd + ".power_wait", "shorter than the device's timeout", nil},

		// redfish
		{"redfish endpoint without https", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.Endpoint = "http://10.0.0.1" }))
		}, dd + ".endpoint", "allow_http: true", nil},
		{"insecure does not allow http", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.Endpoint, d.Insecure = "http://10.0.0.1", true }))
		}, dd + ".endpoint", "allow_http: true", nil},
		{"redfish pin not a fingerprint", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.CertSHA256 = "ab:cd" }))
		}, dd + ".cert_sha256", "64 hex digits", nil},
		{"redfish relative ca file", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.CAFile = "ca.pem" }))
		}, dd + ".ca_file", "absolute path", nil},
		{"redfish insecure with a pin", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.Insecure, d.CertSHA256 = true, strings.Repeat("ab", 32) }))
		}, dd + ".insecure", "remove insecure", nil},
		{"redfish endpoint with credentials", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.Endpoint = "https://u:p@10.0.0.1" }))
		}, dd + ".endpoint", "must not carry credentials", nil},
		{"redfish endpoint not a URL", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.Endpoint = "10.0.0.1" }))
		}, dd + ".endpoint", "not a URL", nil},
		{"redfish endpoint ftp", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.Endpoint = "ftp://10.0.0.1" }))
		}, dd + ".endpoint", "scheme must be https", nil},
		{"redfish bad system", func(c *config.Config) {
			setDev(c, with(redfish, func(d *config.Device) { d.System = "a/b" }))
		}, dd + ".system", "not a Redfish system id", nil},
		{"redfish http bmc endpoint", func(c *config.Config) {
			setDev(c, redfish)
			c.Hosts[1].BMC.Endpoint = "http://10.0.0.12"
		}, "hosts[1].bmc.endpoint", "plain http", nil},
		{"redfish bad bmc endpoint", func(c *config.Config) { c.Hosts[1].BMC.Endpoint = "x" }, "hosts[1].bmc.endpoint", "not a URL", nil},
		{"redfish nowhere to go", func(c *config.Config) {
			setDev(c, redfish)
			c.Hosts[0].BMC = config.BMC{}
		}, "hosts[0].bmc.address", "redfish", nil},

		// fence-agent
		{"agent missing", func(c *config.Config) { setDev(c, config.Device{Driver: "fence-agent"}) }, dd + ".agent", "fence_[a-z0-9_]+", nil},
		{"agent path", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Agent = "/usr/sbin/fence_ipmilan" }))
		}, dd + ".agent", "not a fence agent name", nil},
		{"reserved option", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"action": "reboot"} }))
		}, dd + ".options.action", "set by vigil", nil},
		{"secret option", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"passwd": "x"} }))
		}, dd + ".options.passwd", "secret_files", nil},
		// fence_ipmilan's K_g key was once accepted inline and printed by --dry-run.
		{"K_g option", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"hexadecimal_kg": "0123abcd"} }))
		}, dd + ".options.hexadecimal_kg", "only by reference", nil},
		{"secret file for the password", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.SecretFiles = map[string]string{"passwd": "/etc/vigil/p"} }))
		}, dd + ".secret_files.passwd", "password_file", nil},
		{"relative secret file", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.SecretFiles = map[string]string{"hexadecimal_kg": "kg"} }))
		}, dd + ".secret_files.hexadecimal_kg", "absolute path", nil},
		{"option value with a space", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"method": "cycle -o"} }))
		}, dd + ".options.method", "without spaces", nil},
		{"storage agent as a power fence", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Agent = "fence_scsi" }))
		}, dd + ".kind", "set kind: storage", nil},
		{"fence_kdump through the agent driver", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Agent, d.Kind = "fence_kdump", "io" }))
		}, dd + ".agent", "use driver: kdump", nil},
		{"unknown kind", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Kind = "network" }))
		}, dd + ".kind", "not a kind of fence", nil},
		{"community option", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"community": "private"} }))
		}, dd + ".options.community", "only by reference", nil},
		{"bad option name", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"Plug": "1"} }))
		}, dd + ".options.Plug", "not a fence agent option name", nil},
		{"multi-line option", func(c *config.Config) {
			setDev(c, with(agent, func(d *config.Device) { d.Options = map[string]string{"plug": "1\naction=on"} }))
		}, dd + ".options.plug", "control characters", nil},

		// ceph-blocklist
		{"ceph without storage ips", func(c *config.Config) {
			setDev(c, ceph)
			c.Hosts[1].StorageIPs = nil
		}, "hosts[1].storage_ips", "ceph-blocklist", nil},
		{"ceph relative conf", func(c *config.Config) {
			setDev(c, with(ceph, func(d *config.Device) { d.CephConf = "ceph.conf" }))
		}, dd + ".ceph_conf", "absolute", nil},
		{"ceph user with prefix", func(c *config.Config) {
			setDev(c, with(ceph, func(d *config.Device) { d.CephUser = "client.admin" }))
		}, dd + ".ceph_user", `"admin"`, nil},
		{"ceph bad user", func(c *config.Config) {
			setDev(c, with(ceph, func(d *config.Device) { d.CephUser = "a b" }))
		}, dd + ".ceph_user", "not a Ceph user", nil},
		{"ceph short expiry", func(c *config.Config) {
			setDev(c, with(ceph, func(d *config.Device) { d.Expiry = dur(10 * time.Minute) }))
		}, dd + ".expiry", "at least 1h0m0s", nil},
		{"ceph bad pool", func(c *config.Config) {
			setDev(c, with(ceph, func(d *config.Device) { d.Pool = "a b" }))
		}, dd + ".pool", "not a pool", nil},

		// kdump
		{"kdump without kdump ips", func(c *config.Config) {
			c.Fencing.Domains["default"].Levels[0] = []config.Device{kdump, ceph}
			c.Hosts[0].KdumpIPs = []string{"10.0.0.21"}
		}, "hosts[1].kdump_ips", "its kdump kernel sends fence_kdump messages from", nil},
		{"kdump listen is a host name", func(c *config.Config) {
			withKdumpIPs(c)
			setDev(c, with(kdump, func(d *config.Device) { d.Listen = "localhost:7410" }))
		}, dd + ".listen", "not an IP address and port", nil},
		{"kdump listen without port", func(c *config.Config) {
			withKdumpIPs(c)
			setDev(c, with(kdump, func(d *config.Device) { d.Listen = "0.0.0.0:0" }))
		}, dd + ".listen", "port 0", nil},
		{"kdump with a username", func(c *config.Config) {
			withKdumpIPs(c)
			setDev(c, with(kdump, func(d *config.Device) { d.Username = "admin" }))
		}, dd + ".username", "not used by the kdump driver", nil},
		{"kdump in a level with a power fence", func(c *config.Config) {
			withKdumpIPs(c)
			c.Fencing.Domains["default"].Levels[0] = append(c.Fencing.Domains["default"].Levels[0], kdump)
		}, "fencing.domains.default.levels[0][0]", "in a level before this one", nil},
		{"kdump with a PDU in its level", func(c *config.Config) {
			withKdumpIPs(c)
			c.Fencing.Domains["default"].Levels[0] = []config.Device{kdump, with(agent, func(d *config.Device) { d.Agent = "fence_apc_snmp" })}
		}, "fencing.domains.default.levels[0][1]", "a fence-agent power fence", nil},
		{"kdump level without a storage fence", func(c *config.Config) {
			withKdumpIPs(c)
			setDev(c, kdump)
		}, "fencing.domains.default.levels[0]", "add a ceph-blocklist device to this level", nil},
		{"kdump level with only an io fence beside it", func(c *config.Config) {
			withKdumpIPs(c)
			c.Fencing.Domains["default"].Levels[0] = []config.Device{kdump, with(agent, func(d *config.Device) { d.Agent, d.Kind = "fence_ifmib", "io" })}
		}, "fencing.domains.default.levels[0]", "unauthenticated", nil},
		{"host's kdump level without a storage fence", func(c *config.Config) {
			withKdumpIPs(c)
			c.Hosts[1].Fencing.Levels = [][]config.Device{{kdump}, {ipmi}}
		}, "hosts[1].fencing.levels[0]", "add a ceph-blocklist device to this level", nil},
		{"bad kdump ip", func(c *config.Config) { c.Hosts[0].KdumpIPs = []string{"10.0.0.300"} }, "hosts[0].kdump_ips[0]", "not an IP", nil},
		{"duplicate kdump ip", func(c *config.Config) {
			c.Hosts[0].KdumpIPs = []string{"10.0.0.21", "10.0.0.21"}
		}, "hosts[0].kdump_ips[1]", "twice", nil},
		{"kdump ip of two hosts", func(c *config.Config) {
			c.Hosts[0].KdumpIPs, c.Hosts[1].KdumpIPs = []string{"10.0.0.21"}, []string{"10.0.0.22", "10.0.0.21"}
		}, "hosts[1].kdump_ips[1]", "also a kdump_ips address of hosts[0] (cmp1)", nil},
		{"unspecified kdump ip", func(c *config.Config) { c.Hosts[0].KdumpIPs = []string{"0.0.0.0"} }, "hosts[0].kdump_ips[0]", "unicast", nil},
		{"IPv6 kdump ip on an IPv4 listen address", func(c *config.Config) {
			withKdumpIPs(c)
			c.Hosts[1].KdumpIPs = []string{"10.0.0.22", "fd00::22"}
			c.Fencing.Domains["default"].Levels[0] = []config.Device{kdump, ceph}
		}, "hosts[1].kdump_ips[1]", "set its listen to [::]:7410", nil},

		// hosts
		{"no hosts", func(c *config.Config) { c.Hosts = nil }, "hosts", "no hosts", nil},
		{"bad host name", func(c *config.Config) { c.Hosts[1].Name = "-cmp" }, "hosts[1].name", "not a host name", nil},
		{"duplicate host", func(c *config.Config) { c.Hosts[1].Name = "cmp1" }, "hosts[1].name", "already listed as hosts[0]", nil},
		{"bad bmc address", func(c *config.Config) { c.Hosts[0].BMC.Address = "10.0.0.1:623" }, "hosts[0].bmc.address", "not a host name or IP", nil},
		{"bad bmc port", func(c *config.Config) { c.Hosts[0].BMC.Port = -1 }, "hosts[0].bmc.port", "not a TCP port", nil},
		{"bad storage ip", func(c *config.Config) { c.Hosts[0].StorageIPs = []string{"10.20.0.300"} }, "hosts[0].storage_ips[0]", "not an IP", nil},
		{"duplicate storage ip", func(c *config.Config) {
			c.Hosts[0].StorageIPs = []string{"10.20.0.1", "10.20.0.1"}
		}, "hosts[0].storage_ips[1]", "twice", nil},

		// controller
		{"bad mode", func(c *config.Config) { c.Controller.Mode = "dry" }, "controller.mode", "active or shadow", nil},
		{"relative data dir", func(c *config.Config) { c.Controller.DataDir = "vigil" }, "controller.data_dir", "absolute", nil},
		{"member deaf on a network", func(c *config.Config) {
			c.Controller.Members = []config.Member{{Name: "ctl1", Listen: map[string]string{"mgmt": "10.0.0.1:7400"}}}
		}, "controller.members[0].listen", `no address on network "storage"`, nil},
		{"member on an unknown network", func(c *config.Config) {
			c.Controller.Members = []config.Member{{Name: "ctl1", Listen: map[string]string{"mgmt": "10.0.0.1:7400", "storage": "10.1.0.1:7400", "tenant": "10.2.0.1:7400"}}}
		}, "controller.members[0].listen.tenant", "not one of networks", nil},
		{"member on 0.0.0.0", func(c *config.Config) {
			c.Controller.Members = []config.Member{{Name: "ctl1", Listen: map[string]string{"mgmt": "0.0.0.0:7400", "storage": "10.1.0.1:7400"}}}
		}, "controller.members[0].listen.mgmt", "replies leave from it", nil},
		{"two members on one address", func(c *config.Config) {
			c.Controller.Members = []config.Member{
				{Name: "ctl1", Listen: map[string]string{"mgmt": "10.0.0.1:7400", "storage": "10.1.0.1:7400"}},
				{Name: "ctl2", Listen: map[string]string{"mgmt": "10.0.0.1:7400", "storage": "10.1.0.2:7400"}},
			}
		}, "controller.members[1].listen.mgmt", "also ctl1 on mgmt", nil},
		{"api off loopback without TLS", func(c *config.Config) {
			c.Controller.Members = []config.Member{{Name: "ctl1", API: "10.0.0.1:7421", Listen: map[string]string{"mgmt": "10.0.0.1:7400", "storage": "10.1.0.1:7400"}}}
		}, "controller.members[0].api", "not a loopback address", nil},
		{"etcd cert without key", func(c *config.Config) { c.Controller.Etcd.Cert = "/etc/vigil/etcd.pem" }, "controller.etcd", "together", nil},
		{"etcd endpoint not a URL", func(c *config.Config) { c.Controller.Etcd.Endpoints = []string{"10.0.0.1:2379"} }, "controller.etcd.endpoints[0]", "want a URL", nil},
		{"fractional lease", func(c *config.Config) { c.Controller.Etcd.LeaseTTL = dur(2500 * time.Millisecond) }, "controller.etcd.lease_ttl", "whole seconds", nil},
		{"heartbeat dir and pool", func(c *config.Config) { c.Controller.Heartbeat.Dir, c.Controller.Heartbeat.Pool = "/srv/hb", "vigil" }, "controller.heartbeat", "not both", nil},
		{"heartbeat read too rarely", func(c *config.Config) { c.Controller.Heartbeat.Every = dur(3 * time.Second) }, "controller.heartbeat.every", "half detection.storage_timeout", nil},
		{"tls cert without key", func(c *config.Config) { c.Controller.API.TLSCert = "/etc/vigil/api.pem" }, "controller.api", "together", nil},
		{"webhook without secret", func(c *config.Config) { c.Controller.Webhook.URL = "https://hooks.example.net/vigil" }, "controller.webhook.secret_file", "shared secret", nil},
		{"webhook not a URL", func(c *config.Config) {
			c.Controller.Webhook = config.Webhook{URL: "hooks.example.net", SecretFile: "/etc/vigil/webhook.secret"}
		}, "controller.webhook.url", "http or https URL", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			tt.change(&c)
			err := c.Validate()
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Validate = %v, want errors.Is %v", err, tt.wantIs)
			}
			var e *config.Error
			if !errors.As(err, &e) || e.Path != tt.wantPath {
				t.Errorf("Validate = %v\nwant it at %q", err, tt.wantPath)
			}
			if !strings.Contains(err.Error(), tt.wantPath+": ") || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Validate = %v\nwant it to name %q and contain %q", err, tt.wantPath, tt.wantText)
			}
		})
	}
}

// Every device kind, written minimally, is accepted.
func TestValidateDevices(t *testing.T) {
	for _, d := range []config.Device{
		{Driver: "ipmi", Username: "admin", PasswordEnv: "IPMI_PASS", Cipher: 17, Port: 6230, Address: "bmc1.example.net"},
		{Driver: "redfish", Username: "admin", PasswordFile: "/p", AllowHTTP: true, Endpoint: "http://127.0.0.1:8000"},
		{Driver: "redfish", Username: "admin", PasswordFile: "/p", CAFile: "/etc/vigil/ca.pem", System: "1", PowerWait: dur(time.Second)},
		{Driver: "redfish", Username: "admin", PasswordFile: "/p", CertSHA256: strings.Repeat("AB:", 31) + "AB"},
		{Driver: "ipmi", Username: "admin", PasswordEnv: "IPMI_PASS", Address: "bmc1", Privilege: "administrator", PowerWait: dur(3 * time.Second)},
		{Driver: "fence-agent", Agent: "fence_ipmilan", Username: "admin", PasswordFile: "/p", SecretFiles: map[string]string{"hexadecimal_kg": "/etc/vigil/kg"}},
		{Driver: "fence-agent", Agent: "fence_scsi", Kind: "storage", Options: map[string]string{"devices": "/dev/sdb,/dev/sdc"}},
		{Driver: "redfish", Username: "admin", PasswordFile: "/p", Address: "fd00::1"},
		{Driver: "fence-agent", Agent: "fence_ipmilan", Username: "admin", PasswordFile: "/p", Options: map[string]string{"lanplus": "1", "cipher": "3"}},
		{Driver: "fence-agent", Agent: "fence_apc_snmp", Address: "pdu1", Options: map[string]string{"plug": "4"}},
		{Driver: "ceph-blocklist", CephConf: "/etc/ceph/c.conf", CephUser: "vigil", Expiry: dur(48 * time.Hour), Pool: "vms"},
		{Driver: "kdump"},
		{Driver: "kdump", Listen: "[::]:7410", Timeout: dur(90 * time.Second)},
	} {
		c := validBase(t)
		c.Hosts[0].KdumpIPs, c.Hosts[1].KdumpIPs = []string{"10.0.0.21"}, []string{"10.0.0.22", "fd00::22"}
		if d.Driver == "kdump" && d.Listen == "" {
			c.Hosts[1].KdumpIPs = c.Hosts[1].KdumpIPs[:1]
		}
		setDev(&c, d)
		if d.Driver == "kdump" { // a kdump level needs a storage fence
			c.Fencing.Domains["default"].Levels[0] = append(c.Fencing.Domains["default"].Levels[0], config.Device{Driver: "ceph-blocklist"})
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%v: %v", d, err)
		}
	}
}

// A kdump level is accepted with a storage fence beside it, whatever else
// (not power) the level holds.
func TestValidateKdumpLevels(t *testing.T) {
	kdump := config.Device{Driver: "kdump"}
	ceph := config.Device{Driver: "ceph-blocklist"}
	scsi := config.Device{Driver: "fence-agent", Agent: "fence_scsi", Kind: "storage"}
	ifmib := config.Device{Driver: "fence-agent", Agent: "fence_ifmib", Kind: "io"}
	ipmi := config.Device{Driver: "ipmi", Username: "admin", PasswordFile: "/etc/vigil/bmc.pass"}
	for name, levels := range map[string][][]config.Device{
		"ceph-blocklist":            {{kdump, ceph}, {ipmi}},
		"blocklist first":           {{ceph, kdump}, {ipmi}},
		"fence_scsi":                {{kdump, scsi}, {ipmi}},
		"io and storage":            {{ifmib, kdump, ceph}, {ipmi}},
		"only level":                {{kdump, ceph}},
		"power level with no kdump": {{ipmi}, {ceph}},
	} {
		t.Run(name, func(t *testing.T) {
			c := validBase(t)
			c.Hosts[0].KdumpIPs, c.Hosts[1].KdumpIPs = []string{"10.0.0.21"}, []string{"10.0.0.22"}
			c.Fencing.Domains["default"] = config.Topology{Levels: levels}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

// A controller finds its own entry by name; a wrong name lists the members.
func TestMember(t *testing.T) {
	c := validBase(t)
	if _, err := c.Member("ctl1"); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "controller.members: none") {
		t.Fatalf("Member with no members = %v, want controller.members: none", err)
	}
	c.Controller.Members = []config.Member{{Name: "ctl1", Listen: map[string]string{"mgmt": "10.0.0.1:7400", "storage": "10.1.0.1:7400"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := c.Member("ctl1")
	if err != nil || m.API != config.DefaultAPI {
		t.Fatalf("Member(ctl1) = %+v, %v; want its entry with the default API address", m, err)
	}
	if _, err := c.Member("ctl9"); err == nil || !strings.Contains(err.Error(), `no member is called "ctl9" (members: ctl1)`) {
		t.Fatalf("Member(ctl9) = %v, want it to name the members", err)
	}
}
