package cephbl

import (
	"fmt"
	"math/bits"
	"strconv"
)

// The OSD map barrier: a blocklist entry listed by the mon is not yet
// enforced by the OSDs, which learn the new osdmap lazily (measured here: a
// blocklisted writer's writes still succeeded for ~0.8 s after `osd blocklist
// add` returned, with the map's delivery to the OSD delayed). An OSD does not
// serve a request made at an osdmap epoch it does not have yet; it waits for
// that map first (the reason Linux's libceph waits for the latest osdmap after
// a blocklist add, commit bb229bbb3bf6, and CephFS's "OSD epoch barrier"). So
// once the driver's own client has the epoch that carries the entries, one
// request answered by a placement group proves that PG enforces them.
//
// The driver sends one stat to every PG of the images' pools: for each PG
// a name that hashes into it. Ceph places an object in PG
// stable_mod(rjenkins(name), pg_num, pg_num_mask) of its pool (pg_pool_t::
// raw_pg_to_pg, hash function "rjenkins" = object_hash 2, the only one
// created since Argonaut); this file computes that, so the probe needs no
// per-object mon round trip.

// hashRjenkins is Ceph's ceph_str_hash_rjenkins: Bob Jenkins' 1996 hash
// (lookup2, public domain) over the bytes of s with an initial value of 0.
func hashRjenkins(s string) uint32 {
	k := []byte(s)
	a, b, c := uint32(0x9e3779b9), uint32(0x9e3779b9), uint32(0)
	word := func(p []byte) uint32 {
		return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
	}
	for len(k) >= 12 {
		a += word(k[0:])
		b += word(k[4:])
		c += word(k[8:])
		a, b, c = jenkinsMix(a, b, c)
		k = k[12:]
	}
	c += uint32(len(s))
	// The tail: the first byte of c is the length, so its bytes start at 8.
	var tail [12]byte
	copy(tail[:], k)
	a += word(tail[0:])
	b += word(tail[4:])
	c += (uint32(tail[8]) << 8) | (uint32(tail[9]) << 16) | (uint32(tail[10]) << 24)
	_, _, c = jenkinsMix(a, b, c)
	return c
}

func jenkinsMix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= b
	a -= c
	a ^= c >> 13
	b -= c
	b -= a
	b ^= a << 8
	c -= a
	c -= b
	c ^= b >> 13
	a -= b
	a -= c
	a ^= c >> 12
	b -= c
	b -= a
	b ^= a << 16
	c -= a
	c -= b
	c ^= b >> 5
	a -= b
	a -= c
	a ^= c >> 3
	b -= c
	b -= a
	b ^= a << 10
	c -= a
	c -= b
	c ^= b >> 15
	return a, b, c
}

// pgOf is the PG (its seed, 0..pgNum-1) a raw hash falls in: Ceph's
// ceph_stable_mod with the pool's pg_num mask.
func pgOf(hash uint32, pgNum uint32) uint32 {
	mask := uint32(1)<<bits.Len32(pgNum-1) - 1
	if hash&mask < pgNum {
		return hash & mask
	}
	return hash & (mask >> 1)
}

// objectHashRjenkins is pg_pool_t::TYPE_HASH... CEPH_STR_HASH_RJENKINS as
// `osd dump` lists it in a pool's "object_hash".
//
//lint:ignore U1000 used by the -tags pacific build
const objectHashRjenkins = 2

// maxProbeTries bounds the search for a name per PG; with n PGs the
// expected number of names tried is about n·ln(n) (4096 PGs: ~34,000).
const maxProbeTries = 1 << 22

// probeNames returns one object name per PG of a pool with pgNum PGs,
// indexed by PG seed. The objects do not exist; a stat of each one is
// answered by that PG's primary OSD.
func probeNames(pgNum uint32) ([]string, error) {
	if pgNum == 0 {
		return nil, fmt.Errorf("cephbl: pool has pg_num 0")
	}
	names := make([]string, pgNum)
	left := int(pgNum)
	for i := 0; left > 0; i++ {
		if i >= maxProbeTries {
			return nil, fmt.Errorf("cephbl: no probe name for %d of %d PGs after %d tries", left, pgNum, i)
		}
		n := "vigil-fence-probe." + strconv.Itoa(i)
		if pg := pgOf(hashRjenkins(n), pgNum); names[pg] == "" {
			names[pg] = n
			left--
		}
	}
	return names, nil
}
