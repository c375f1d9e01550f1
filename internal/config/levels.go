package config

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// topology picks the levels that apply to host i and the YAML path they
// were written at: the host's own, else its domain's, else "default".
func (c Config) topology(i int) (Topology, string) {
	h := c.Hosts[i]
	if len(h.Fencing.Levels) > 0 {
		return h.Fencing, "hosts[" + strconv.Itoa(i) + "].fencing"
	}
	if t, ok := c.Fencing.Domains[h.Domain]; ok && h.Domain != "" {
		return t, "fencing.domains." + h.Domain
	}
	return c.Fencing.Domains[DefaultDomain], "fencing.domains." + DefaultDomain
}

// Levels returns the fencing levels of the named host, in order, with every
// default filled in: the BMC address, port and endpoint from the host's bmc
// when a device has none, the storage IPs of ceph-blocklist devices from
// storage_ips, and each driver's defaults. The result is a copy the caller
// may keep. It reports a device the host cannot feed (an ipmi device with no
// address anywhere, a ceph-blocklist device on a host without storage_ips)
// and a host with no levels at all. It does not repeat Validate's other
// checks: call it on a validated Config.
func (c Config) Levels(host string) ([][]Device, error) {
	i := slices.IndexFunc(c.Hosts, func(h Host) bool { return h.Name == host })
	if i < 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownHost, host)
	}
	return c.LevelsOf(i)
}

// LevelsOf is Levels of hosts[i], for a caller that looks hosts up by an
// index of its own (a controller of 10,000 hosts builds a topology at every
// BMC read: a scan of the list each time cost it a core).
func (c Config) LevelsOf(i int) ([][]Device, error) {
	if i < 0 || i >= len(c.Hosts) {
		return nil, fmt.Errorf("%w: hosts[%d]", ErrUnknownHost, i)
	}
	h := c.Hosts[i]
	hp := "hosts[" + strconv.Itoa(i) + "]"
	t, tp := c.topology(i)
	if len(t.Levels) == 0 {
		return nil, invalid(hp, "host %s has no fence levels: give it fencing.levels, or define fencing.domains.%s", h.Name, DefaultDomain)
	}
	out := make([][]Device, len(t.Levels))
	for li, level := range t.Levels {
		out[li] = make([]Device, len(level))
		for di, d := range level {
			dp := fmt.Sprintf("%s.levels[%d][%d]", tp, li, di)
			r, err := resolve(d, h, hp, dp)
			if err != nil {
				return nil, err
			}
			out[li][di] = r
		}
	}
	return out, nil
}

// resolve fills d's defaults from host h (at YAML path hp); dp is d's path.
func resolve(d Device, h Host, hp, dp string) (Device, error) {
	d.Options = maps.Clone(d.Options)
	d.SecretFiles = maps.Clone(d.SecretFiles)
	d.StorageIPs = nil
	switch d.Driver {
	case DriverIPMI, DriverFenceAgent:
		// The host's bmc.port belongs to bmc.address: a device with an
		// address of its own (a PDU, say) does not inherit it.
		if d.Address == "" {
			d.Address = h.BMC.Address
			d.Port = cmp.Or(d.Port, h.BMC.Port)
		}
		if d.Driver == DriverFenceAgent && d.Kind == "" {
			d.Kind = KindPower
		}
		if d.Driver == DriverIPMI {
			if d.Privilege == "" {
				d.Privilege = DefaultIPMIPrivilege
			}
			if d.Port == 0 {
				d.Port = DefaultIPMIPort
			}
			if d.Cipher == 0 {
				d.Cipher = DefaultIPMICipher
			}
			if d.Address == "" {
				return Device{}, invalid(hp+".bmc.address", "host %s has no BMC address for the ipmi device at %s; set bmc.address on the host or address on the device", h.Name, dp)
			}
		}
	case DriverRedfish:
		// Only the endpoint is used; it comes from the device, else from
		// the device's own address, else from the host's bmc.
		if d.Endpoint == "" {
			addr, port := d.Address, d.Port
			if addr == "" {
				d.Endpoint = h.BMC.Endpoint
				addr, port = h.BMC.Address, cmp.Or(port, h.BMC.Port)
			}
			if d.Endpoint == "" && addr != "" {
				d.Endpoint = "https://" + hostPort(addr, port)
			}
		}
		if d.Endpoint == "" {
			return Device{}, invalid(hp+".bmc.address", "host %s has no BMC address for the redfish device at %s; set bmc.address or bmc.endpoint on the host, or address or endpoint on the device", h.Name, dp)
		}
		if msg := checkEndpoint(d.Endpoint, d.AllowHTTP); msg != "" {
			return Device{}, invalid(hp+".bmc.endpoint", "%s (for the redfish device at %s)", msg, dp)
		}
	case DriverCephBlocklist:
		if d.CephConf == "" {
			d.CephConf = DefaultCephConf
		}
		if d.CephUser == "" {
			d.CephUser = DefaultCephUser
		}
		if d.Expiry == 0 {
			d.Expiry = DefaultCephExpiry
		}
		if len(h.StorageIPs) == 0 {
			return Device{}, invalid(hp+".storage_ips", "host %s has no storage_ips for the ceph-blocklist device at %s; list its addresses on the Ceph public network", h.Name, dp)
		}
		d.StorageIPs = slices.Clone(h.StorageIPs)
	case DriverKdump:
		if d.Listen == "" {
			d.Listen = DefaultKdumpListen
		}
		if len(h.KdumpIPs) == 0 {
			return Device{}, invalid(hp+".kdump_ips", "host %s has no kdump_ips for the kdump device at %s; list the addresses its kdump kernel sends fence_kdump messages from (the network kdump.conf brings up)", h.Name, dp)
		}
		listen, err := KdumpListen(d.Listen)
		if err != nil {
			return Device{}, invalid(dp+".listen", "%v", err)
		}
		for k, s := range h.KdumpIPs {
			if ip, err := netip.ParseAddr(s); err == nil && !hears(listen, ip) {
				return Device{}, invalid(fmt.Sprintf("%s.kdump_ips[%d]", hp, k), "%s cannot reach the kdump device at %s, which listens on %s (the other address family); set its listen to [::]:%d for IPv4 and IPv6", s, dp, d.Listen, listen.Port())
			}
		}
		d.KdumpIPs = slices.Clone(h.KdumpIPs)
	}
	return d, nil
}

// hears reports whether a socket on listen receives from an address of
// from's family: IPv4 hears IPv4, [::] both, another IPv6 address IPv6.
// kdump.Config.Validate applies the same rule to the driver's own config;
// here it names the file's keys.
func hears(listen netip.AddrPort, from netip.Addr) bool {
	switch l := listen.Addr().Unmap(); {
	case l.Is4():
		return from.Unmap().Is4()
	case l.IsUnspecified():
		return true
	}
	return from.Unmap().Is6()
}

// hostPort writes addr and an optional port for a URL.
func hostPort(addr string, port int) string {
	if port != 0 {
		return net.JoinHostPort(addr, strconv.Itoa(port))
	}
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() {
		return "[" + addr + "]"
	}
	return addr
}
