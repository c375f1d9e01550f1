package pool

import (
	"cmp"
	"slices"
)

// MaxWatch bounds Watch: every host reports at most this many peers per
// network and interval, whatever the size of the cloud.
const MaxWatch = 16

// Watched is who self watches among members (self may be among them): its
// k successors on a ring ordered by a hash of the names (ties by name), so
// neighbours by name (a rack's hosts) are spread around the ring and watch
// hosts of other racks. In a pool whose members agree on the membership
// every member is watched by exactly min(k, n-1) others. It is pure: every
// agent computes its own from its own view, and views that differ for a
// while (a join, a death) only shift a few watches. One pass, no sort:
// 10,000 members cost well under a millisecond a round.
func Watched(self string, members []string, k int) []string {
	type cand struct {
		d    uint64 // clockwise distance from self on the ring
		name string
	}
	less := func(a, b cand) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.name, b.name)) }
	h0 := hash(self)
	best := make([]cand, 0, k+1)
	for _, m := range members {
		if m == self {
			continue
		}
		c := cand{hash(m) - h0, m}
		if c.d == 0 && m < self { // same hash, ordered before self: the far end of the ring
			c.d = ^uint64(0)
		}
		if len(best) == k && less(c, best[k-1]) >= 0 {
			continue
		}
		i, dup := slices.BinarySearchFunc(best, c, less)
		if dup {
			continue
		}
		best = slices.Insert(best, i, c)
		if len(best) > k {
			best = best[:k]
		}
	}
	out := make([]string, len(best))
	for i, c := range best {
		out[i] = c.name
	}
	return out
}

// hash is FNV-1a, 64 bits.
func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
