package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

// Network is one layer-2 segment of a lab: a bridge in the fabric namespace
// and one interface, named Interface(Name), in every host namespace.
type Network struct {
	// Name is short ([a-z][a-z0-9]{0,7}) so that interface names built from
	// it stay within the kernel's 15 characters.
	Name string
	// Subnet is an IPv4 prefix of /24 or wider. Host i gets address
	// Subnet.Addr()+10+i, so hosts start at .10.
	Subnet netip.Prefix
}

// Config describes a lab.
type Config struct {
	// Prefix starts every namespace name of the lab and must be unique among
	// labs that may exist at the same time (see UniquePrefix).
	Prefix string
	// Hosts is the number of host namespaces, 1 to MaxHosts.
	Hosts int
	// Networks every host is attached to, at least one.
	Networks []Network
}

// MaxHosts bounds Config.Hosts: host addresses go from .10 up to .209.
const MaxHosts = 200

// DefaultNetworks are the networks of the test bed: management (where the
// controller, the agents and the BMCs talk) and storage (where guests write).
func DefaultNetworks() []Network {
	return []Network{
		{Name: "mgmt", Subnet: netip.MustParsePrefix("10.10.0.0/24")},
		{Name: "storage", Subnet: netip.MustParsePrefix("10.20.0.0/24")},
	}
}

// DefaultConfig is a lab of three hosts on DefaultNetworks, the size of the
// test bed's recipes.
func DefaultConfig(prefix string) Config {
	return Config{Prefix: prefix, Hosts: 3, Networks: DefaultNetworks()}
}

var (
	prefixRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,23}$`)
	networkRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,7}$`)
)

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if !prefixRE.MatchString(c.Prefix) {
		return fmt.Errorf("netns: prefix %q must match %s", c.Prefix, prefixRE)
	}
	if c.Hosts < 1 || c.Hosts > MaxHosts {
		return fmt.Errorf("netns: hosts %d must be 1 to %d", c.Hosts, MaxHosts)
	}
	if len(c.Networks) == 0 {
		return errors.New("netns: at least one network is needed")
	}
	seen := map[string]bool{}
	for _, n := range c.Networks {
		if !networkRE.MatchString(n.Name) {
			return fmt.Errorf("netns: network name %q must match %s", n.Name, networkRE)
		}
		if seen[n.Name] {
			return fmt.Errorf("netns: network %q given twice", n.Name)
		}
		seen[n.Name] = true
		if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() || n.Subnet.Bits() > 24 {
			return fmt.Errorf("netns: network %q: subnet %s must be IPv4, /24 or wider", n.Name, n.Subnet)
		}
	}
	return nil
}

// prefixSeq makes UniquePrefix distinct within one process.
var prefixSeq atomic.Uint32

// UniquePrefix returns a lab prefix that no other process on the machine
// uses: up to six letters of tag (for a human reading `ip netns list`), the
// process id and a per-process counter, e.g. "vg-fence-1f3k-0".
func UniquePrefix(tag string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tag) {
		if b.Len() == 6 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("lab")
	}
	return fmt.Sprintf("vg-%s-%s-%s", b.String(),
		strconv.FormatInt(int64(os.Getpid()), 36),
		strconv.FormatUint(uint64(prefixSeq.Add(1)-1), 36))
}

// Interface is the name of a host's interface on network, the same in
// every host namespace.
func Interface(network string) string { return "eth-" + network }

// bridge is the name of network's bridge in the fabric namespace.
func bridge(network string) string { return "br-" + network }

// fabricPort is the name of host i's veth peer on network, in the fabric
// namespace.
func fabricPort(host int, network string) string {
	return "h" + strconv.Itoa(host) + "-" + network
}

// hostAddr is host i's address on n.
func hostAddr(n Network, host int) netip.Addr {
	a := n.Subnet.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += 10 + uint32(host)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
