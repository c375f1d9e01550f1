package pool

import (
	"cmp"
	"hash/fnv"
	"slices"
)

// MaxWatch bounds Watch: every host reports at most this many peers per
// network and interval, whatever the size of the cloud.
const MaxWatch = 16

// Watched is who self watches among members (self may be among them): its
// k successors on a ring ordered by a hash of the names, so neighbours by
// name (a rack's hosts) are spread around the ring and watch hosts of other
// racks. In a pool whose members agree on the membership every member is
// watched by exactly min(k, n-1) others. It is pure: every agent computes
// its own from its own view, and views that differ for a while (a join, a
// death) only shift a few watches.
func Watched(self string, members []string, k int) []string {
	type point struct {
		h    uint64
		name string
	}
	ring := make([]point, 0, len(members)+1)
	seen := map[string]bool{}
	for _, m := range append(members, self) {
		if !seen[m] {
			seen[m] = true
			ring = append(ring, point{hash(m), m})
		}
	}
	slices.SortFunc(ring, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.name, b.name))
	})
	i := slices.IndexFunc(ring, func(p point) bool { return p.name == self })
	var out []string
	for j := 1; j < len(ring) && len(out) < k; j++ {
		out = append(out, ring[(i+j)%len(ring)].name)
	}
	return out
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
