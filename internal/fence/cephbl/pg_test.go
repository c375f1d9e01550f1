package cephbl

import "testing"

// The raw hashes and PGs are what `ceph osd map rbd NAME` printed on the
// test cluster (Pacific 16.2.15, pool rbd with pg_num 8): names of every
// tail length class, including exactly 12 bytes.
func TestHashRjenkinsMatchesCeph(t *testing.T) {
	for _, tt := range []struct {
		name string
		hash uint32
		pg   uint32
	}{
		{"foo", 0x7fc1f406, 6},
		{"rbd_header.abc", 0x913abdc2, 2},
		{"vigil-fence-probe.0", 0x309cfda1, 1},
		{"rbd_data.10a2b3c4d5e6.0000000000000001", 0x278b85af, 7},
		{"a", 0x29eec818, 0},
		{"abcdefghijkl", 0x0b1b3ea5, 5},
		{"abcdefghijklm", 0x3122b031, 1},
	} {
		if got := hashRjenkins(tt.name); got != tt.hash {
			t.Errorf("hashRjenkins(%q) = %08x, want %08x", tt.name, got, tt.hash)
		}
		if got := pgOf(tt.hash, 8); got != tt.pg {
			t.Errorf("pgOf(%08x, 8) = %d, want %d", tt.hash, got, tt.pg)
		}
	}
}

// ceph_stable_mod with a pg_num that is not a power of two folds the upper
// half of the mask onto the lower PGs.
func TestPGOfStableMod(t *testing.T) {
	for _, tt := range []struct{ hash, pgNum, want uint32 }{
		{5, 1, 0}, {11, 12, 11}, {12, 12, 4}, {15, 12, 7}, {0xffffffff, 12, 7}, {0xfffffff0, 4096, 0xff0},
	} {
		if got := pgOf(tt.hash, tt.pgNum); got != tt.want {
			t.Errorf("pgOf(%d, %d) = %d, want %d", tt.hash, tt.pgNum, got, tt.want)
		}
	}
}

func TestProbeNamesCoverEveryPG(t *testing.T) {
	for _, n := range []uint32{1, 8, 12, 1024} {
		names, err := probeNames(n)
		if err != nil {
			t.Fatal(err)
		}
		for pg, name := range names {
			if got := pgOf(hashRjenkins(name), n); got != uint32(pg) {
				t.Errorf("pg_num %d: probe %q lands in PG %d, listed for %d", n, name, got, pg)
			}
		}
	}
	if _, err := probeNames(0); err == nil {
		t.Error("probeNames(0) = nil error")
	}
}
