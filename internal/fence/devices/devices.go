package devices

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/agent"
	"github.com/vigil-ha/vigil/internal/fence/ipmi"
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
}

// Build returns host's topology with every device constructed. It connects
// to nothing: drivers connect on each call.
func Build(cfg config.Config, host string, sec Secrets, opts Options, log *slog.Logger) (fence.Topology, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	levels, err := cfg.Levels(host)
	if err != nil {
		return fence.Topology{}, err
	}
	var h config.Host
	for _, x := range cfg.Hosts {
		if x.Name == host {
			h = x
		}
	}
	topo := fence.Topology{Host: host}
	for li, level := range levels {
		var ms []fence.Member
		for di, d := range level {
			m, err := member(d, h, sec, log)
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

func member(d config.Device, h config.Host, sec Secrets, log *slog.Logger) (fence.Member, error) {
	m := fence.Member{Name: d.String(), Driver: d.Driver, Timeout: d.Timeout.Std(), Retries: d.Retries,
		Power: d.Driver != config.DriverCephBlocklist}
	pass, err := d.Secret(sec.Getenv, sec.ReadFile)
	if err != nil {
		return m, err
	}
	switch d.Driver {
	case config.DriverIPMI:
		c := ipmi.DefaultConfig()
		c.Address, c.Port, c.Username, c.Password, c.CipherSuite = d.Address, d.Port, d.Username, pass, d.Cipher
		c.OffTimeout = max(c.OffTimeout, d.Timeout.Std())
		m.Name = fmt.Sprintf("ipmi %s:%d", d.Address, d.Port)
		m.Device, err = ipmi.New(c, log)
	case config.DriverRedfish:
		c := redfish.DefaultConfig()
		c.Endpoint, c.Username, c.Password, c.InsecureTLS, c.SystemID = d.Endpoint, d.Username, pass, d.Insecure, d.System
		c.OffTimeout = max(c.OffTimeout, d.Timeout.Std())
		m.Name = "redfish " + d.Endpoint
		m.Device, err = redfish.New(c, log)
	case config.DriverFenceAgent:
		c := agent.DefaultConfig()
		c.Agent, c.Address, c.Port, c.Username, c.Password = d.Agent, d.Address, d.Port, d.Username, pass
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
		c.RunTimeout = max(c.RunTimeout, d.Timeout.Std())
		// Off and On hold a run and the status runs after it.
		c.OffTimeout, c.OnTimeout = max(c.OffTimeout, c.RunTimeout), max(c.OnTimeout, c.RunTimeout)
		m.Name = fmt.Sprintf("%s %s", d.Agent, d.Address)
		if d.Port != 0 {
			m.Name = fmt.Sprintf("%s %s:%d", d.Agent, d.Address, d.Port)
		}
		m.Device, err = agent.New(c, log)
	case config.DriverCephBlocklist:
		m.Name = "ceph-blocklist " + fmt.Sprint(h.StorageIPs)
		m.Device, err = ceph(d, h, log)
	default:
		err = fmt.Errorf("unknown driver %q", d.Driver)
	}
	return m, err
}
