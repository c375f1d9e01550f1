package devices

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/agent"
	"github.com/vigil-ha/vigil/internal/fence/ipmi"
	"github.com/vigil-ha/vigil/internal/fence/kdump"
	"github.com/vigil-ha/vigil/internal/fence/redfish"
)

// Secrets reads credential references: os.Getenv and os.ReadFile in main.
type Secrets struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Options tune what Build adds around the devices.
type Options struct {
	// Probe, when true, pings the host's storage_ips after a power fence
	// and fails the level if the host still answers (a lying BMC).
	Probe     bool
	ProbeWait time.Duration
	// Netns runs the probe's ping inside this network namespace (tests).
	Netns string
	// Slots serialises actions on a device that several hosts share (a
	// PDU, a chassis manager): pass the same Slots to every Build. Nil
	// gives each Build its own, which still serialises within the host.
	Slots *fence.Slots
	// Kdump receives the fence_kdump messages of every kdump device: pass
	// the same one to every Build, so that hosts dumping at once share the
	// listen socket. Nil gives each Build its own.
	Kdump kdump.Source
}

// Build returns host's topology with every device constructed. It connects
// to nothing: drivers connect on each call.
func Build(cfg config.Config, host string, sec Secrets, opts Options, log *slog.Logger) (fence.Topology, error) {
	i := slices.IndexFunc(cfg.Hosts, func(h config.Host) bool { return h.Name == host })
	if i < 0 {
		return fence.Topology{}, fmt.Errorf("%w: %q", config.ErrUnknownHost, host)
	}
	return BuildAt(cfg, i, sec, opts, log)
}

// BuildAt is Build of cfg.Hosts[i].
func BuildAt(cfg config.Config, i int, sec Secrets, opts Options, log *slog.Logger) (fence.Topology, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	levels, err := cfg.LevelsOf(i)
	if err != nil {
		return fence.Topology{}, err
	}
	h := cfg.Hosts[i]
	host := h.Name
	if opts.Slots == nil {
		opts.Slots = &fence.Slots{}
	}
	if opts.Kdump == nil {
		opts.Kdump = kdump.NewReceiver(log)
	}
	topo := fence.Topology{Host: host}
	for li, level := range levels {
		var ms []fence.Member
		for di, d := range level {
			m, err := member(d, h, sec, opts.Kdump, log)
			m.Slot = opts.Slots.For(deviceKey(d))
			if err != nil {
				return fence.Topology{}, fmt.Errorf("host %s level %d device %d (%s): %w", host, li+1, di+1, d.Driver, err)
			}
			ms = append(ms, m)
		}
		topo.Levels = append(topo.Levels, ms)
	}
	if opts.Probe && len(h.StorageIPs) > 0 {
		topo.Probe = fence.PingProber{Addrs: h.StorageIPs, Netns: opts.Netns}
		topo.ProbeWait = opts.ProbeWait
	}
	return topo, nil
}

// Describe lists host's resolved topology for --dry-run, without building
// devices or reading secrets.
func Describe(cfg config.Config, host string) ([][]string, error) {
	levels, err := cfg.Levels(host)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(levels))
	for i, level := range levels {
		for _, d := range level {
			out[i] = append(out[i], d.String())
		}
	}
	return out, nil
}

// deviceKey names the physical device d drives, for its Slot: two hosts'
// devices with the same key are one device.
func deviceKey(d config.Device) string {
	switch d.Driver {
	case config.DriverRedfish:
		return "redfish " + d.Endpoint
	case config.DriverFenceAgent:
		return fmt.Sprintf("%s %s:%d", d.Agent, d.Address, d.Port)
	case config.DriverCephBlocklist:
		return "ceph-blocklist " + d.CephConf // a cluster takes any number of commands
	case config.DriverKdump:
		return "kdump " + d.Listen + " " + strings.Join(d.KdumpIPs, ",") // one host's wait; the socket is shared anyway
	}
	return fmt.Sprintf("%s %s:%d", d.Driver, d.Address, d.Port)
}

// ipmilanAgents speak IPMI through ipmitool (fence_ipmilan and its aliases):
// vigil sends lanplus=1 and cipher=3 unless the options say otherwise, as
// IPMI 1.5 has no integrity protection.
var ipmilanAgents = []string{"fence_ipmilan", "fence_idrac", "fence_ilo3", "fence_ilo4", "fence_ilo5", "fence_imm", "fence_ipmilanplus"}

func member(d config.Device, h config.Host, sec Secrets, src kdump.Source, log *slog.Logger) (fence.Member, error) {
	m := fence.Member{Name: d.String(), Driver: d.Driver, Timeout: d.Timeout.Std(), Retries: d.Retries, Power: d.IsPowerFence(), Storage: d.IsStorageFence()}
	pass, err := d.Secret(sec.Getenv, sec.ReadFile)
	if err != nil {
		return m, err
	}
	// An explicit timeout is the driver's bound for Off and On; without one
	// the driver's own (longer) bound applies and the attempt adds none.
	timeout := d.Timeout.Std()
	switch d.Driver {
	case config.DriverIPMI:
		c := ipmi.DefaultConfig()
		c.Address, c.Port, c.Username, c.Password, c.CipherSuite = d.Address, d.Port, d.Username, pass, d.Cipher
		c.Privilege = ipmi.Privilege(d.Privilege)
		if d.PowerWait != 0 {
			c.PowerWait = d.PowerWait.Std()
		}
		if timeout > 0 {
			c.OffTimeout, c.OnTimeout = timeout, max(c.OnTimeout, timeout)
			c.ExchangeTimeout = min(c.ExchangeTimeout, timeout/4)
			c.PollInterval = min(c.PollInterval, timeout/4)
		}
		m.Name = fmt.Sprintf("ipmi %s:%d", d.Address, d.Port)
		m.Device, err = ipmi.New(c, log)
	case config.DriverRedfish:
		c := redfish.DefaultConfig()
		c.Endpoint, c.Username, c.Password, c.InsecureTLS, c.SystemID = d.Endpoint, d.Username, pass, d.Insecure, d.System
		c.AllowHTTP = d.AllowHTTP
		if d.PowerWait != 0 {
			c.PowerWait = d.PowerWait.Std()
		}
		if d.CertSHA256 != "" {
			c.CertSHA256, _ = config.Fingerprint(d.CertSHA256)
		}
		if d.CAFile != "" {
			if c.RootCAs, err = caPool(d.CAFile, sec.ReadFile); err != nil {
				return m, err
			}
		}
		if timeout > 0 {
			c.OffTimeout, c.OnTimeout = timeout, max(c.OnTimeout, timeout)
			c.RequestTimeout = min(c.RequestTimeout, timeout/2)
			c.PollInterval = min(c.PollInterval, timeout/4)
		}
		m.Name = "redfish " + d.Endpoint
		m.Device, err = redfish.New(c, log)
	case config.DriverFenceAgent:
		c := agent.DefaultConfig()
		c.Agent, c.Address, c.Port, c.Username, c.Password = d.Agent, d.Address, d.Port, d.Username, pass
		if d.PowerWait != 0 {
			c.PowerWait = d.PowerWait.Std()
		}
		if slices.Contains(ipmilanAgents, d.Agent) {
			c.Lanplus, c.CipherSuite = true, config.DefaultIPMICipher
		}
		c.Options = map[string]string{}
		for k, v := range d.Options {
			// The agent driver sends lanplus and cipher from typed fields.
			switch k {
			case "lanplus":
				c.Lanplus = v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
			case "cipher":
				if c.CipherSuite, err = strconv.Atoi(v); err != nil {
					return m, fmt.Errorf("options.cipher: %q is not a cipher suite number", v)
				}
			default:
				c.Options[k] = v
			}
		}
		if c.Secrets, err = d.SecretOptionValues(sec.ReadFile); err != nil {
			return m, err
		}
		if timeout > 0 {
			// One run may take the whole attempt (a PDU agent's own
			// power_timeout); Off and On hold it and the status runs.
			c.RunTimeout, c.OffTimeout, c.OnTimeout = timeout, timeout, max(c.OnTimeout, timeout)
			c.PollInterval = min(c.PollInterval, timeout/4)
		}
		m.Name = fmt.Sprintf("%s %s", d.Agent, d.Address)
		if d.Port != 0 {
			m.Name = fmt.Sprintf("%s %s:%d", d.Agent, d.Address, d.Port)
		}
		m.Device, err = agent.New(c, log)
	case config.DriverCephBlocklist:
		m.Name = "ceph-blocklist " + fmt.Sprint(h.StorageIPs)
		m.Device, err = ceph(d, h, log)
	case config.DriverKdump:
		m.Name = "kdump " + strings.Join(d.KdumpIPs, ",")
		m.Device, err = kdumpDevice(d, h, timeout, src, log)
	default:
		err = fmt.Errorf("unknown driver %q", d.Driver)
	}
	return m, err
}

// kdumpDevice waits for host h's fence_kdump message; timeout, when set,
// is how long.
func kdumpDevice(d config.Device, h config.Host, timeout time.Duration, src kdump.Source, log *slog.Logger) (fence.Device, error) {
	c := kdump.DefaultConfig()
	c.Host = h.Name
	listen, err := config.KdumpListen(d.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	c.Listen = listen
	for _, s := range d.KdumpIPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("kdump_ips: %q is not an IP address", s)
		}
		c.Addrs = append(c.Addrs, ip)
	}
	if timeout > 0 {
		c.Timeout = timeout
	}
	return kdump.New(c, src, log)
}

// caPool reads a PEM file of CA certificates.
func caPool(path string, readFile func(string) ([]byte, error)) (*x509.CertPool, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", path)
	}
	return pool, nil
}
