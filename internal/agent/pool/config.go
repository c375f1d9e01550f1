package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/internal/wire"
)

// Config is one network's pool.
type Config struct {
	// Network is the network's name (mgmt, storage), as the controllers
	// configure it; the pool's label, so a packet of another network's
	// pool never opens in this one.
	Network string
	// Host is this host's name, its member name.
	Host string
	// Bind is this host's own address on Network and the pool's port
	// (UDP and TCP): the agent's listen address, another port.
	Bind netip.AddrPort
	// Join are members to join through (their Bind): at start, and every
	// RejoinEvery for those not among the live members (a pool split by a
	// partition joins up again).
	Join []netip.AddrPort
	// Keys are the pools' keys the host's file holds, newest first (one,
	// or two while rotating).
	Keys []wire.PoolKey
	// Watch is how many peers this host watches and reports each round.
	Watch int
	// PingTimeout is how long a watched peer has to answer a round's
	// ping. A peer reported reachable answered within it, so a report is
	// never older than PingTimeout: with report_interval it must stay
	// below half the controllers' agent_timeout (docs/agent.md).
	PingTimeout time.Duration
	// RejoinEvery: how often Join is tried again (Prober).
	RejoinEvery time.Duration
	Log         *slog.Logger
	// Memberlist is the profile the pool starts from; nil:
	// memberlist.DefaultLANConfig (probe every 1 s, timeout 500 ms,
	// Lifeguard's suspicion 4 × log10(n) probe intervals). Tests give
	// faster ones.
	Memberlist func() *memberlist.Config
	// Wrap, if set, wraps the pool's transport (tests record and replay
	// packets with it).
	Wrap func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport
}

// DefaultConfig is for report_interval 1 s.
func DefaultConfig() Config {
	return Config{
		Watch:       3,                      // each host watched by three: one lost report or one sick watcher leaves two
		PingTimeout: 250 * time.Millisecond, // LAN round trips are ~0.1 ms; 1 s + 250 ms < 1.5 s, half the engine's 3 s agent_timeout
		RejoinEvery: 10 * time.Second,
	}
}

// Validate says what is wrong with c, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.Network == "" || len(c.Network) > 200 {
		errs = append(errs, fmt.Errorf("pool: network %q: give the network's name", c.Network))
	}
	if c.Host == "" {
		errs = append(errs, errors.New("pool: host: give this host's name"))
	}
	if !c.Bind.IsValid() || c.Bind.Addr().IsUnspecified() || c.Bind.Port() == 0 {
		errs = append(errs, fmt.Errorf("pool: bind %v: give this host's own address on %s and a port", c.Bind, c.Network))
	}
	for i, j := range c.Join {
		if !j.IsValid() || j.Port() == 0 {
			errs = append(errs, fmt.Errorf("pool: join[%d] %v: give ip:port", i, j))
		}
	}
	if len(c.Keys) == 0 || len(c.Keys) > 2 {
		errs = append(errs, fmt.Errorf("pool: %d pool keys: give one generation, or two while rotating (the host's key file, vigil keys host)", len(c.Keys)))
	}
	if c.Watch < 1 || c.Watch > MaxWatch {
		errs = append(errs, fmt.Errorf("pool: watch %d: give 1 to %d", c.Watch, MaxWatch))
	}
	if c.PingTimeout <= 0 {
		errs = append(errs, fmt.Errorf("pool: ping timeout %v: give a positive duration", c.PingTimeout))
	}
	if c.RejoinEvery <= 0 {
		errs = append(errs, fmt.Errorf("pool: rejoin every %v: give a positive duration", c.RejoinEvery))
	}
	return errors.Join(errs...)
}
