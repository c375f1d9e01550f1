package cephbl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
)

func TestProofRoundTrip(t *testing.T) {
	ip := netip.MustParseAddr
	p := proofDetail{
		Added:    []addr{wholeIP(ip("10.0.1.5")), {IP: ip("10.0.1.5"), Nonce: 42}, wholeIP(ip("fd00::5"))},
		Existing: map[addr]time.Time{wholeIP(ip("10.0.2.5")): time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Host:     "compute-1", Expire: 24 * time.Hour, Images: 3, Missing: 1, Owners: 1, Verified: 1234 * time.Millisecond,
	}
	want := "entries=10.0.1.5:0/0,10.0.1.5:0/42,[fd00::5]:0/0 existing=10.0.2.5:0/0@2026-01-02T03:04:05Z " +
		"host=compute-1 expire=24h0m0s images=3 missing=1 owners=1 verified_after=1.234s"
	if diff := cmp.Diff(want, p.String()); diff != "" {
		t.Errorf("detail (-want +got):\n%s", diff)
	}
	got, err := EntriesFromProof(fence.Proof{Driver: Driver, Detail: p.String()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"10.0.1.5:0/0", "10.0.1.5:0/42", "[fd00::5]:0/0"}, got); diff != "" {
		t.Errorf("EntriesFromProof (-want +got):\n%s", diff)
	}
}

func TestEntriesFromProofRejects(t *testing.T) {
	tests := []struct {
		name  string
		proof fence.Proof
	}{
		{"other driver", fence.Proof{Driver: "ipmi", Detail: "entries=10.0.1.5:0/0"}},
		{"no entries field", fence.Proof{Driver: Driver, Detail: "host=x"}},
		{"bad entry", fence.Proof{Driver: Driver, Detail: "entries=10.0.1.5:0/0,nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := EntriesFromProof(tt.proof); err == nil {
				t.Errorf("EntriesFromProof = %v, want an error", got)
			}
		})
	}
	got, err := EntriesFromProof(fence.Proof{Driver: Driver, Detail: "entries= host=x"})
	if err != nil || len(got) != 0 {
		t.Errorf("empty entries: %v, %v; want none, nil", got, err)
	}
}
