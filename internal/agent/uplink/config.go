package uplink

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vigil-ha/vigil/internal/wire"
)

// Network is one network the agent reports on.
type Network struct {
	// Name is the network's name (mgmt, storage), as the controllers
	// configure it.
	Name string
	// Listen is the local address to bind, ip:port: a concrete address on
	// that network, which the peers configure for this host.
	Listen string
	// Controllers are the controllers' addresses on this network (ip:port
	// each): every report goes to each of them.
	Controllers []string
	// Peers are the hosts this one may relay through on this network,
	// and the only ones it relays for (an address that is not one of
	// them is never relayed for, nor relayed to).
	Peers []Peer
}

// Peer is another host's agent on one network.
type Peer struct {
	Host string
	Addr string // its Listen on that network
}

// Config configures an Uplink.
type Config struct {
	Keys     wire.HostKeys
	Networks []Network
	// Silence is how long a path may say nothing before it counts as cut:
	// the agent relays through a peer once no controller answered it
	// directly on any network for this long, moves to the next peer once
	// the current one has brought nothing back for this long, and relays
	// for peers only while a controller answered it directly on that
	// network within it.
	Silence time.Duration
	// RelayBurst and RelayEvery limit what it relays for each peer: a peer
	// sends a report per network per interval, a stop notice and its
	// resends on a Retry.
	RelayBurst int
	RelayEvery time.Duration
	// Clock is the host's CLOCK_BOOTTIME (agent.BootTime), the agent's
	// clock. Nil: time since New.
	Clock func() time.Duration
	Log   *slog.Logger
}

// DefaultConfig is for agent.report_interval 1 s.
func DefaultConfig() Config {
	return Config{
		Silence:    2 * time.Second,        // two grants lost: well inside the engine's 3 s agent timeout and the grant's 10 s
		RelayBurst: 8,                      // a report per network, a stop notice, their resends
		RelayEvery: 250 * time.Millisecond, // four a second a peer
	}
}

// Validate says what is wrong with c, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.Keys.Host() == "" {
		errs = append(errs, errors.New("uplink: keys: none; load the host's key file (wire.LoadHostKeys)"))
	}
	if len(c.Networks) == 0 {
		errs = append(errs, errors.New("uplink: networks: none; give each network's name, listen address and controllers"))
	}
	seen := map[string]bool{}
	for i, n := range c.Networks {
		if n.Name == "" || seen[n.Name] {
			errs = append(errs, fmt.Errorf("uplink: networks[%d].name %q: empty or given twice", i, n.Name))
		}
		seen[n.Name] = true
		if ap, err := netip.ParseAddrPort(n.Listen); err != nil || ap.Addr().IsUnspecified() {
			errs = append(errs, fmt.Errorf("uplink: networks[%d].listen %q: give a concrete ip:port on that network (peers send to it)", i, n.Listen))
		}
		if len(n.Controllers) == 0 {
			errs = append(errs, fmt.Errorf("uplink: networks[%d].controllers: none; give every controller's ip:port on %s", i, n.Name))
		}
		for j, a := range n.Controllers {
			if _, err := netip.ParseAddrPort(a); err != nil {
				errs = append(errs, fmt.Errorf("uplink: networks[%d].controllers[%d] %q: %w", i, j, a, err))
			}
		}
		for j, p := range n.Peers {
			if _, err := netip.ParseAddrPort(p.Addr); err != nil || p.Host == "" || p.Host == c.Keys.Host() {
				errs = append(errs, fmt.Errorf("uplink: networks[%d].peers[%d] %q at %q: give another host's name and its ip:port", i, j, p.Host, p.Addr))
			}
		}
	}
	if c.Silence <= 0 {
		errs = append(errs, fmt.Errorf("uplink: silence %v: give a positive duration (about two report intervals)", c.Silence))
	}
	if c.RelayBurst < 1 || c.RelayEvery <= 0 {
		errs = append(errs, fmt.Errorf("uplink: relay limit burst %d every %v: give at least 1 and a positive interval", c.RelayBurst, c.RelayEvery))
	}
	return errors.Join(errs...)
}
