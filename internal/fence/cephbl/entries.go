package cephbl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// addr is a Ceph entity address as the blocklist keys it: IP, port, nonce.
// Port 0 and nonce 0 is a whole-IP entry: it matches every client of the IP.
type addr struct {
	IP    netip.Addr
	Port  uint16
	Nonce uint32
}

// wholeIP is the entry that blocklists every client of ip.
func wholeIP(ip netip.Addr) addr { return addr{IP: ip.Unmap()} }

// String is the form the mon prints and accepts: "10.0.0.5:0/3414812",
// "[fd00::5]:0/0".
func (a addr) String() string {
	return netip.AddrPortFrom(a.IP, a.Port).String() + "/" + strconv.FormatUint(uint64(a.Nonce), 10)
}

// parseAddr reads an address as librados, librbd and the mon print it:
// "10.0.0.5:0/3414812", optionally with a "v1:", "v2:" or "any:" type
// prefix, "[fd00::5]:0/0", or a bare IP (a whole-IP entry).
func parseAddr(s string) (addr, error) {
	rest := s
	for _, p := range []string{"any:", "v1:", "v2:"} {
		rest = strings.TrimPrefix(rest, p)
	}
	if ip, err := netip.ParseAddr(rest); err == nil && ip.Zone() == "" {
		return wholeIP(ip), nil
	}
	hostPort, nonceText, hasNonce := strings.Cut(rest, "/")
	var nonce uint64
	if hasNonce {
		var err error
		if nonce, err = strconv.ParseUint(nonceText, 10, 32); err != nil {
			return addr{}, fmt.Errorf("cephbl: address %q: bad nonce", s)
		}
	}
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil || ap.Addr().Zone() != "" {
		return addr{}, fmt.Errorf("cephbl: address %q is not IP:port/nonce", s)
	}
	return addr{IP: ap.Addr().Unmap(), Port: ap.Port(), Nonce: uint32(nonce)}, nil
}

// parseAddrs reads a client's own address list as rados_getaddrs prints
// it: one address, or a vector "[v2:…,v1:…]".
func parseAddrs(s string) ([]addr, error) {
	inner, isVec := strings.CutPrefix(s, "[")
	if isVec {
		inner = strings.TrimSuffix(inner, "]")
	}
	var as []addr
	for _, part := range strings.Split(inner, ",") {
		a, err := parseAddr(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

// onHost tells whether a's IP is one of ips.
func onHost(a addr, ips []netip.Addr) bool {
	for _, ip := range ips {
		if ip.Unmap() == a.IP {
			return true
		}
	}
	return false
}

// blocklist is what `osd blocklist ls --format json` lists: entries, and
// (16.2.11 and later) CIDR ranges.
type blocklist struct {
	Entries map[addr]time.Time // entry -> expiry
	Ranges  map[netip.Prefix]time.Time
}

// untilLayout is how the mon prints an entry's expiry.
const untilLayout = "2006-01-02T15:04:05.999999-0700"

// parseBlocklist reads `osd blocklist ls --format json`: a JSON array of
// {"addr","until"}, followed on Pacific 16.2.11+ by an array of
// {"range","until"}.
func parseBlocklist(out []byte) (blocklist, error) {
	b := blocklist{Entries: map[addr]time.Time{}, Ranges: map[netip.Prefix]time.Time{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	var entries []struct{ Addr, Until string }
	if err := dec.Decode(&entries); err != nil {
		return b, fmt.Errorf("cephbl: blocklist ls: %w", err)
	}
	for _, e := range entries {
		a, err := parseAddr(e.Addr)
		if err != nil {
			return b, err
		}
		until, err := time.Parse(untilLayout, e.Until)
		if err != nil {
			return b, fmt.Errorf("cephbl: blocklist ls: entry %s: %w", e.Addr, err)
		}
		b.Entries[a] = until
	}
	var ranges []struct{ Range, Until string }
	if err := dec.Decode(&ranges); err != nil && !errors.Is(err, io.EOF) {
		return b, fmt.Errorf("cephbl: blocklist ls ranges: %w", err)
	}
	for _, r := range ranges {
		p, err := parseRange(r.Range)
		if err != nil {
			return b, err
		}
		until, err := time.Parse(untilLayout, r.Until)
		if err != nil {
			return b, fmt.Errorf("cephbl: blocklist ls: range %s: %w", r.Range, err)
		}
		b.Ranges[p] = until
	}
	return b, nil
}

// parseRange reads a range as the mon lists it: "10.0.0.0:0/24" (the
// "nonce" is the prefix length), optionally with a "cidr:" prefix.
func parseRange(s string) (netip.Prefix, error) {
	hostPort, bits, ok := strings.Cut(strings.TrimPrefix(s, "cidr:"), "/")
	ap, err := netip.ParseAddrPort(hostPort)
	n, nerr := strconv.Atoi(bits)
	if !ok || err != nil || nerr != nil {
		return netip.Prefix{}, fmt.Errorf("cephbl: blocklist range %q is not IP:0/bits", s)
	}
	p, err := ap.Addr().Unmap().Prefix(n)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("cephbl: blocklist range %q: %w", s, err)
	}
	return p, nil
}

// covers tells whether every client of ip is blocklisted: by a whole-IP
// entry or by a range.
func (b blocklist) covers(ip netip.Addr) bool {
	ip = ip.Unmap()
	if _, ok := b.Entries[wholeIP(ip)]; ok {
		return true
	}
	for p := range b.Ranges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// status is the host's fence state as the blocklist shows it. With
// whole-IP entries the host is off when every one of its IPs is covered;
// otherwise, when any entry is on one of its IPs (the driver cannot tell
// whether every client was caught).
func status(b blocklist, ips []netip.Addr, ownerEntriesOnly bool) fence.Status {
	if !ownerEntriesOnly {
		for _, ip := range ips {
			if !b.covers(ip) {
				return fence.StatusOn
			}
		}
		return fence.StatusOff
	}
	for a := range b.Entries {
		if onHost(a, ips) {
			return fence.StatusOff
		}
	}
	for _, ip := range ips {
		if b.covers(ip) {
			return fence.StatusOff
		}
	}
	return fence.StatusOn
}

// expireArg is the "expire" argument of `osd blocklist add`: seconds as a
// JSON float. The mon wants a float; a JSON integer (86400) is EINVAL.
func expireArg(d time.Duration) json.Number {
	s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return json.Number(s)
}

// entry is one blocklist entry as the driver adds and removes it: an
// address (exact, or whole-IP), or with rng valid a CIDR range.
type entry struct {
	a   addr
	rng netip.Prefix
}

//lint:ignore U1000 used by the -tags pacific build
func rangeOf(ip netip.Addr) entry {
	ip = ip.Unmap()
	return entry{rng: netip.PrefixFrom(ip, ip.BitLen())}
}

func (e entry) isRange() bool { return e.rng.IsValid() }

// String is the form the mon accepts: "10.0.0.5:0/0", or "10.0.0.5/32".
func (e entry) String() string {
	if e.isRange() {
		return e.rng.String()
	}
	return e.a.String()
}

// onHost tells whether the entry is on one of ips: an address on one of
// them, or a range that is exactly one of them (/32, /128).
func (e entry) onHost(ips []netip.Addr) bool {
	if !e.isRange() {
		return onHost(e.a, ips)
	}
	return e.rng.Bits() == e.rng.Addr().BitLen() && onHost(addr{IP: e.rng.Addr()}, ips)
}

// parseEntry reads an entry as a Proof records it.
func parseEntry(s string, isRange bool) (entry, error) {
	if isRange {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return entry{}, fmt.Errorf("cephbl: blocklist range %q is not a CIDR", s)
		}
		return entry{rng: netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()}, nil
	}
	a, err := parseAddr(s)
	return entry{a: a}, err
}

// until returns the listed expiry of e, and whether it is listed.
//
//lint:ignore U1000 used by the -tags pacific build
func (b blocklist) until(e entry) (time.Time, bool) {
	if e.isRange() {
		u, ok := b.Ranges[e.rng]
		return u, ok
	}
	u, ok := b.Entries[e.a]
	return u, ok
}

// blocked tells whether a client address is blocklisted, as the OSD decides
// it (OSDMap::is_blocklisted): its exact entry, its IP's whole-IP entry, or
// a range that contains its IP.
func (b blocklist) blocked(a addr) bool {
	if _, ok := b.Entries[a]; ok {
		return true
	}
	return b.covers(a.IP)
}

// onHostEntries returns every listed entry on ips, sorted.
//
//lint:ignore U1000 used by the -tags pacific build
func (b blocklist) onHostEntries(ips []netip.Addr) []entry {
	var es []entry
	for a := range b.Entries {
		if onHost(a, ips) {
			es = append(es, entry{a: a})
		}
	}
	for p := range b.Ranges {
		if e := (entry{rng: p}); e.onHost(ips) {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(x, y entry) int { return strings.Compare(x.String(), y.String()) })
	return es
}
