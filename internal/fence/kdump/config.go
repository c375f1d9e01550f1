package kdump

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// Driver is the driver's name in the configuration and in proofs.
const Driver = "kdump"

func configErr(field, reason string) error {
	return &fence.ConfigError{Driver: Driver, Field: field, Reason: reason}
}

// Config is what a kdump device waits for.
type Config struct {
	// Host names the host, for messages.
	Host string
	// Addrs are the addresses the host's kdump kernel sends from (the
	// host's kdump_ips): a message from any other address is ignored.
	Addrs []netip.Addr
	// Listen is the local address and port to receive on. Default
	// 0.0.0.0:7410 (every IPv4 address; [::]:7410 receives IPv4 and IPv6).
	Listen netip.AddrPort
	// Timeout is how long Off waits for a message. Default 60 s,
	// fence_kdump's --timeout: the kdump kernel must boot, bring its
	// network up and send, and fence_kdump_send repeats only every
	// --interval (10 s by default).
	Timeout time.Duration
}

// DefaultTimeout is fence_kdump's default --timeout.
const DefaultTimeout = 60 * time.Second

// DefaultListen is 0.0.0.0:7410.
var DefaultListen = netip.AddrPortFrom(netip.IPv4Unspecified(), DefaultPort)

// DefaultConfig returns the defaults above, with no host and no addresses.
func DefaultConfig() Config {
	return Config{Listen: DefaultListen, Timeout: DefaultTimeout}
}

// Validate reports the first field that cannot work, as a
// *fence.ConfigError.
func (c Config) Validate() error {
	if c.Host == "" {
		return configErr("Host", "missing: name the host, for messages")
	}
	if len(c.Addrs) == 0 {
		return configErr("Addrs", "missing: list the addresses the host's kdump kernel sends fence_kdump messages from")
	}
	if !c.Listen.IsValid() || c.Listen.Port() == 0 {
		return configErr("Listen", fmt.Sprintf("%v is not an IP address and port to listen on, e.g. %v", c.Listen, DefaultListen))
	}
	if c.Listen.Addr().Zone() != "" {
		return configErr("Listen", "an address with a zone cannot be configured; listen on [::]:7410 instead")
	}
	for i, a := range c.Addrs {
		switch {
		case !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "":
			return configErr(fmt.Sprintf("Addrs[%d]", i), fmt.Sprintf("%v is not a host's unicast address", a))
		case slices.Contains(c.Addrs[:i], a):
			return configErr(fmt.Sprintf("Addrs[%d]", i), fmt.Sprintf("%v is listed twice", a))
		case !Hears(c.Listen, a):
			return configErr(fmt.Sprintf("Addrs[%d]", i), fmt.Sprintf("%v cannot reach a socket on %v (another address family); listen on [::]:%d for both", a, c.Listen, c.Listen.Port()))
		}
	}
	if c.Timeout <= 0 {
		return configErr("Timeout", fmt.Sprintf("%v: must be positive (default %v)", c.Timeout, DefaultTimeout))
	}
	return nil
}

// Hears reports whether a socket bound to listen can receive from an
// address of from's family: an IPv4 address hears IPv4 only, a specific
// IPv6 address IPv6 only, and [::] both (Linux's default
// net.ipv6.bindv6only=0).
func Hears(listen netip.AddrPort, from netip.Addr) bool {
	l, f := listen.Addr().Unmap(), from.Unmap()
	switch {
	case l.Is4():
		return f.Is4()
	case l.IsUnspecified():
		return true
	}
	return f.Is6()
}
