package cephbl

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sampleRecord() *fence.BlocklistProof {
	return &fence.BlocklistProof{
		Host: "compute-1", IPs: []string{"10.0.1.5", "fd00::5"},
		Entries: []fence.BlocklistEntry{
			{Addr: "10.0.1.5:0/42", Ours: true, Until: t0.Add(24 * time.Hour), Expire: 24 * time.Hour, SentAt: t0},
			{Addr: "[fd00::5]:0/0", Ours: true, Until: t0.Add(24 * time.Hour), Expire: 24 * time.Hour, SentAt: t0},
			{Addr: "10.0.1.5:0/0", Until: t0.Add(time.Hour)},
			{Addr: "10.0.1.5/32", Range: true, Ours: true, Expire: 24 * time.Hour, SentAt: t0},
		},
		OSDMapEpoch: 812, Pools: []string{"vms"}, PGs: 256, Images: []string{"vms/a_disk"}, Owners: []string{"10.0.1.5:0/42"},
		BootID: "b1", FencedAt: t0.Add(2 * time.Second), Verified: true,
	}
}

// A new leader unfences from the stored record: the typed proof survives
// the round trip through its JSON form, and EntriesFromProof reads vigil's
// own entries from it, never the inherited one.
func TestProofRoundTrip(t *testing.T) {
	rec := sampleRecord()
	sortEntries(rec.Entries)
	p := proofOf(rec, 1234*time.Millisecond)
	want := "entries=[fd00::5]:0/0,10.0.1.5/32,10.0.1.5:0/42 existing=10.0.1.5:0/0@2026-01-02T04:04:05Z " +
		"host=compute-1 osdmap_epoch=812 pgs=256 images=1 missing=0 owners=1 took=1.234s"
	if diff := cmp.Diff(want, p.Detail); diff != "" {
		t.Errorf("detail (-want +got):\n%s", diff)
	}
	b, err := fence.MarshalProofs([]fence.Proof{p})
	if err != nil {
		t.Fatal(err)
	}
	back, err := fence.UnmarshalProofs(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fence.Proof{p}, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, b)
	}
	got, err := EntriesFromProof(back[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"[fd00::5]:0/0", "10.0.1.5/32", "10.0.1.5:0/42"}, got); diff != "" {
		t.Errorf("EntriesFromProof (-want +got):\n%s", diff)
	}
	if rs := recordsOf(back, []netip.Addr{netip.MustParseAddr("fd00::5")}); len(rs) != 1 {
		t.Errorf("recordsOf the host's IPv6 = %d records, want 1", len(rs))
	}
	if rs := recordsOf(back, []netip.Addr{netip.MustParseAddr("10.0.1.6")}); len(rs) != 0 {
		t.Errorf("recordsOf another host = %d records, want 0", len(rs))
	}
}

func TestEntriesFromProofRejects(t *testing.T) {
	bad := sampleRecord()
	bad.Entries = append(bad.Entries, fence.BlocklistEntry{Addr: "nope", Ours: true})
	for name, p := range map[string]fence.Proof{
		"other driver": {Driver: "ipmi", Blocklist: sampleRecord()},
		"no record":    {Driver: Driver, Detail: "entries=10.0.1.5:0/0"},
		"bad entry":    {Driver: Driver, Blocklist: bad},
	} {
		if got, err := EntriesFromProof(p); err == nil {
			t.Errorf("%s: EntriesFromProof = %v, want an error", name, got)
		}
	}
}

// An entry is vigil's when its listed expiry is the one recorded, or, if
// the add's reply was lost, one the add could have set.
func TestStillOurs(t *testing.T) {
	skew := time.Minute
	known := fence.BlocklistEntry{Addr: "10.0.1.5:0/0", Ours: true, Until: t0.Add(24 * time.Hour)}
	lost := fence.BlocklistEntry{Addr: "10.0.1.5:0/0", Ours: true, Expire: 24 * time.Hour, SentAt: t0}
	end := t0.Add(15 * time.Second)
	for _, tt := range []struct {
		name   string
		rec    fence.BlocklistEntry
		listed time.Time
		want   bool
	}{
		{"the recorded expiry", known, t0.Add(24*time.Hour + 3*time.Second), true},
		{"re-made since by someone (librbd's 1 h)", known, t0.Add(30 * time.Minute), false},
		{"lost reply: committed while Off ran", lost, t0.Add(24*time.Hour + 5*time.Second), true},
		{"lost reply: mon clock a little behind", lost, t0.Add(24*time.Hour - 30*time.Second), true},
		{"lost reply: someone else's 1 h entry", lost, t0.Add(time.Hour), false},
		{"lost reply: made after Off ended", lost, end.Add(24*time.Hour + 2*time.Minute), false},
		{"not ours", fence.BlocklistEntry{Addr: "10.0.1.5:0/0", Until: t0.Add(24 * time.Hour)}, t0.Add(24 * time.Hour), false},
		{"no expiry recorded at all", fence.BlocklistEntry{Addr: "10.0.1.5:0/0", Ours: true}, t0.Add(24 * time.Hour), false},
	} {
		if got := stillOurs(tt.rec, tt.listed, end, skew); got != tt.want {
			t.Errorf("%s: stillOurs = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Unfencing a storage fence needs a new boot or an operator's force, and
// says which.
func TestReleaseReason(t *testing.T) {
	for _, tt := range []struct {
		name   string
		rel    fence.Release
		fenced string
		want   string // substring of the reason; "" = refused
	}{
		{"new boot", fence.Release{BootID: "b2"}, "b1", "new boot: boot id b2 (fenced at boot id b1)"},
		{"same boot", fence.Release{BootID: "b1"}, "b1", ""},
		{"boot id unknown now", fence.Release{}, "b1", ""},
		{"none recorded", fence.Release{BootID: "b2"}, "", ""},
		{"forced", fence.Release{Force: true, By: "alice"}, "b1", "forced by alice"},
		{"forced without a record", fence.Release{Force: true}, "", "forced by an operator"},
	} {
		got, err := tt.rel.Reason(tt.fenced)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: Reason = %q, want ErrNoResetEvidence", tt.name, got)
		case tt.want != "" && (err != nil || !strings.Contains(got, tt.want)):
			t.Errorf("%s: Reason = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestEntryForms(t *testing.T) {
	ips := []netip.Addr{netip.MustParseAddr("10.0.1.5")}
	for _, tt := range []struct {
		s      string
		rng    bool
		onHost bool
	}{
		{"10.0.1.5:0/0", false, true},
		{"10.0.1.5/32", true, true},
		{"10.0.1.4/31", true, false}, // wider than the host
		{"10.0.1.6:0/9", false, false},
	} {
		e, err := parseEntry(tt.s, tt.rng)
		if err != nil {
			t.Fatal(err)
		}
		if e.String() != tt.s || e.onHost(ips) != tt.onHost {
			t.Errorf("parseEntry(%q) = %s, onHost %v; want %v", tt.s, e, e.onHost(ips), tt.onHost)
		}
	}
	b := blocklist{Entries: map[addr]time.Time{}, Ranges: map[netip.Prefix]time.Time{netip.MustParsePrefix("10.0.1.5/32"): t0}}
	if !b.blocked(addr{IP: ips[0], Nonce: 7}) || b.blocked(addr{IP: netip.MustParseAddr("10.0.1.6"), Nonce: 7}) {
		t.Error("a /32 range must block every client of its IP and no other")
	}
}
