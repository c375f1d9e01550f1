package pool

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWatched(t *testing.T) {
	for _, tc := range []struct {
		name    string
		self    string
		members []string
		k       int
		want    int
	}{
		{"alone", "a", nil, 3, 0},
		{"alone, itself listed", "a", []string{"a"}, 3, 0},
		{"two", "a", []string{"b"}, 3, 1},
		{"four, k 3", "a", []string{"b", "c", "d"}, 3, 3},
		{"many, k 3", "a", []string{"b", "c", "d", "e", "f", "g"}, 3, 3},
		{"duplicates", "a", []string{"b", "b", "c"}, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Watched(tc.self, tc.members, tc.k)
			if len(got) != tc.want {
				t.Fatalf("Watched = %v, want %d peers", got, tc.want)
			}
			for _, g := range got {
				if g == tc.self {
					t.Fatalf("Watched = %v: watches itself", got)
				}
			}
		})
	}
}

// Every member of a pool that agrees on its membership is watched by
// exactly k others, and the order of the member list does not matter.
func TestWatchedCoversEveryMemberKTimes(t *testing.T) {
	for _, n := range []int{2, 3, 4, 10, 100, 1000} {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("cmp%04d.rack%d", i, i/40))
		}
		watchers := map[string]int{}
		for _, self := range names {
			for _, w := range Watched(self, names, 3) {
				watchers[w]++
			}
		}
		want := min(3, n-1)
		for _, h := range names {
			if watchers[h] != want {
				t.Fatalf("n=%d: %s watched by %d, want %d", n, h, watchers[h], want)
			}
		}
		rev := append([]string(nil), names...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		if d := cmp.Diff(Watched(names[0], names, 3), Watched(names[0], rev, 3)); d != "" {
			t.Fatalf("n=%d: the order of the members changes the watch: %s", n, d)
		}
	}
}

// One member more or less moves only the watches next to it on the ring.
func TestWatchedIsStableAsMembersComeAndGo(t *testing.T) {
	var names []string
	for i := range 200 {
		names = append(names, fmt.Sprintf("cmp%03d", i))
	}
	moved := 0
	for _, self := range names[1:] {
		if !cmp.Equal(Watched(self, names, 3), Watched(self, names[1:], 3)) {
			moved++
		}
	}
	if moved > 3 {
		t.Fatalf("removing one member changed %d watches, want at most 3 (its watchers')", moved)
	}
}

// BenchmarkWatched10k is one round's choice of whom to watch in a pool of
// 10,000 members.
func BenchmarkWatched10k(b *testing.B) {
	var names []string
	for i := range 10000 {
		names = append(names, fmt.Sprintf("cmp%05d.rack%03d.example.net", i, i/40))
	}
	for b.Loop() {
		Watched(names[4711], names, 3)
	}
}
