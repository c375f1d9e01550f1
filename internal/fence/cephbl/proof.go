package cephbl

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// proofDetail is what Off proves, rendered as space-separated key=value
// pairs (entries first) so that operators can read it and EntriesFromProof
// can parse it back.
type proofDetail struct {
	Added    []addr             // entries this Off added (the ones to remove on unfence)
	Existing map[addr]time.Time // wanted entries that were already there, with their expiry
	Host     string
	Expire   time.Duration
	Images   int           // images checked
	Owners   int           // lock owners found on the host
	Missing  int           // images that do not exist (deleted instances)
	Verified time.Duration // from the first add until verified
}

func (p proofDetail) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entries=%s", joinAddrs(p.Added))
	if len(p.Existing) > 0 {
		var ex []string
		for a, until := range p.Existing {
			ex = append(ex, a.String()+"@"+until.UTC().Format(time.RFC3339))
		}
		slices.Sort(ex)
		fmt.Fprintf(&b, " existing=%s", strings.Join(ex, ","))
	}
	fmt.Fprintf(&b, " host=%s expire=%v images=%d missing=%d owners=%d verified_after=%v",
		p.Host, p.Expire, p.Images, p.Missing, p.Owners, p.Verified.Round(time.Millisecond))
	return b.String()
}

func joinAddrs(as []addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// EntriesFromProof returns the blocklist entries an Off of this driver added,
// from its Proof: what Remove takes to unfence after a controller failover.
func EntriesFromProof(p fence.Proof) ([]string, error) {
	if p.Driver != Driver {
		return nil, fmt.Errorf("cephbl: proof of driver %q, not %q", p.Driver, Driver)
	}
	for _, field := range strings.Fields(p.Detail) {
		list, ok := strings.CutPrefix(field, "entries=")
		if !ok {
			continue
		}
		if list == "" {
			return nil, nil
		}
		entries := strings.Split(list, ",")
		for _, e := range entries {
			if _, err := parseAddr(e); err != nil {
				return nil, err
			}
		}
		return entries, nil
	}
	return nil, fmt.Errorf("cephbl: proof detail %q has no entries", p.Detail)
}
