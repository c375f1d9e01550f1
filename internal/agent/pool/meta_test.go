package pool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrimary(t *testing.T) {
	for _, tc := range []struct {
		name   string
		held   []uint32
		others [][]uint32
		want   uint32
	}{
		{"one generation, alone", []uint32{1}, nil, 1},
		{"two, alone: joining with the older", []uint32{2, 1}, nil, 1},
		{"rotating, a member still on 1", []uint32{2, 1}, [][]uint32{{2, 1}, {1}}, 1},
		{"rotating, every member holds 2", []uint32{2, 1}, [][]uint32{{2, 1}, {2, 1}}, 2},
		{"retiring: some hold 2 only", []uint32{2, 1}, [][]uint32{{2}, {2, 1}}, 2},
		{"retired", []uint32{2}, [][]uint32{{2}, {2, 1}}, 2},
		{"out of order: nothing in common", []uint32{2, 1}, [][]uint32{{3, 2}, {1}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Primary(tc.held, tc.others); got != tc.want {
				t.Fatalf("Primary(%v, %v) = %d, want %d", tc.held, tc.others, got, tc.want)
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	for _, gens := range [][]uint32{{1}, {2, 1}, {1 << 31, 7}} {
		got, err := decodeMeta(encodeMeta(gens))
		if err != nil || !cmp.Equal(got, gens) {
			t.Fatalf("%v: decoded %v, %v", gens, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, 0, 0, 0, 1}, {1, 0}, {1, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1}, {1, 1, 0, 0, 0, 0}, {1, 2, 0, 0, 0, 1, 0, 0, 0, 2}, {1, 1, 0, 0, 0, 1, 9}} {
		if g, err := decodeMeta(bad); !errors.Is(err, ErrMeta) {
			t.Errorf("%x: decoded %v, %v; want ErrMeta", bad, g, err)
		}
	}
}

// FuzzMeta: the metadata decoder (other members' alive messages) never
// panics, and what it takes encodes back to the same bytes.
func FuzzMeta(f *testing.F) {
	for _, s := range metaSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gens, err := decodeMeta(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeMeta(gens), b) {
			t.Fatalf("%x decoded as %v, which encodes as %x", b, gens, encodeMeta(gens))
		}
		if p := Primary(gens, [][]uint32{gens}); p != gens[0] {
			t.Fatalf("%v: a pool of members all holding it uses %d", gens, p)
		}
	})
}

func metaSeeds() [][]byte {
	return [][]byte{encodeMeta([]uint32{1}), encodeMeta([]uint32{2, 1}), {1, 2, 0, 0, 0, 1, 0, 0, 0, 2}, {}, {2, 1, 0, 0, 0, 1}}
}

// The committed seeds (testdata/fuzz/FuzzMeta, run by plain go test) are
// metaSeeds: VIGIL_WRITE_SEEDS=1 writes them again.
func TestFuzzMetaSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzMeta")
	for i, s := range metaSeeds() {
		p := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s)
		if os.Getenv("VIGIL_WRITE_SEEDS") == "1" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not the current seed (%v): run VIGIL_WRITE_SEEDS=1 go test -run TestFuzzMetaSeeds ./internal/agent/pool/", p, err)
		}
	}
}
