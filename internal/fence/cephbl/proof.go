package cephbl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// newRecord starts the record of an Off: what a Proof will carry.
//
//lint:ignore U1000 used by the -tags pacific build
func newRecord(cfg Config, bootID string) *fence.BlocklistProof {
	ips := make([]string, len(cfg.HostIPs))
	for i, ip := range cfg.HostIPs {
		ips[i] = ip.Unmap().String()
	}
	return &fence.BlocklistProof{Host: cfg.Host, IPs: ips, BootID: bootID}
}

// proofOf wraps a record as a Proof with its one-line Detail.
func proofOf(r *fence.BlocklistProof, took time.Duration) fence.Proof {
	return fence.Proof{Driver: Driver, Detail: detail(r, took), Blocklist: r}
}

// detail renders a record for humans: "entries=… existing=… host=…".
func detail(r *fence.BlocklistProof, took time.Duration) string {
	var ours, others []string
	for _, e := range r.Entries {
		if e.Ours {
			ours = append(ours, e.Addr)
		} else {
			others = append(others, e.Addr+"@"+e.Until.UTC().Format(time.RFC3339))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "entries=%s", strings.Join(ours, ","))
	if len(others) > 0 {
		fmt.Fprintf(&b, " existing=%s", strings.Join(others, ","))
	}
	fmt.Fprintf(&b, " host=%s osdmap_epoch=%d pgs=%d images=%d missing=%d owners=%d",
		r.Host, r.OSDMapEpoch, r.PGs, len(r.Images), len(r.Missing), len(r.Owners))
	if !r.Verified {
		b.WriteString(" NOT VERIFIED")
	}
	fmt.Fprintf(&b, " took=%v", took.Round(time.Millisecond))
	return b.String()
}

// recordsOf returns the blocklist records of a fence's proofs that are
// about ips: every proof of this driver whose IPs overlap them.
func recordsOf(ps []fence.Proof, ips []netip.Addr) []*fence.BlocklistProof {
	var rs []*fence.BlocklistProof
	for _, p := range ps {
		if p.Driver != Driver || p.Blocklist == nil {
			continue
		}
		for _, s := range p.Blocklist.IPs {
			if ip, err := netip.ParseAddr(s); err == nil && onHost(addr{IP: ip.Unmap()}, ips) {
				rs = append(rs, p.Blocklist)
				break
			}
		}
	}
	return rs
}

// EntriesFromProof returns the blocklist entries an Off of this driver added
// (the ones unfencing removes), from its Proof.
func EntriesFromProof(p fence.Proof) ([]string, error) {
	if p.Driver != Driver {
		return nil, fmt.Errorf("cephbl: proof of driver %q, not %q", p.Driver, Driver)
	}
	if p.Blocklist == nil {
		return nil, errors.New("cephbl: proof has no blocklist record")
	}
	var out []string
	for _, e := range p.Blocklist.Entries {
		if _, err := parseEntry(e.Addr, e.Range); err != nil {
			return nil, err
		}
		if e.Ours {
			out = append(out, e.Addr)
		}
	}
	return out, nil
}

// stillOurs tells whether the listed expiry of a recorded entry of vigil's
// shows it is still the entry vigil added, and not one made since by
// someone else (after vigil's expired or was removed): its expiry is the one
// recorded, or, when the add's reply was lost, one that the add could have
// set: between SentAt+Expire and end+Expire, within skew (end: when the Off
// that sent it finished).
func stillOurs(rec fence.BlocklistEntry, listed time.Time, end time.Time, skew time.Duration) bool {
	if !rec.Ours {
		return false
	}
	if !rec.Until.IsZero() {
		d := listed.Sub(rec.Until)
		return d >= -skew && d <= skew
	}
	if rec.SentAt.IsZero() || rec.Expire <= 0 {
		return false
	}
	lo, hi := rec.SentAt.Add(rec.Expire-skew), end.Add(rec.Expire+skew)
	return !listed.Before(lo) && !listed.After(hi)
}

// sortEntries orders a record's entries: whole-IP, ranges, then exact.
func sortEntries(es []fence.BlocklistEntry) {
	rank := func(e fence.BlocklistEntry) int {
		switch {
		case e.Range:
			return 1
		case strings.HasSuffix(e.Addr, ":0/0"):
			return 0
		}
		return 2
	}
	slices.SortStableFunc(es, func(a, b fence.BlocklistEntry) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a.Addr, b.Addr)
	})
}
