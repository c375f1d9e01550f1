package swarm

import (
	"math"
	"time"
)

// perOctave is the histogram's resolution: a quantile is within 1/32 of
// an octave (2.2 %) of the true one.
const perOctave = 32

// Histogram counts durations in logarithmic buckets, so the windows of
// several swarm processes add up exactly.
type Histogram struct {
	Counts []uint64 `json:"counts"` // bucket i: [2^(i/perOctave), 2^((i+1)/perOctave)) ns
	N      uint64   `json:"n"`
	Max    int64    `json:"max"` // ns
}

// Add counts d.
func (h *Histogram) Add(d time.Duration) {
	i := int(math.Log2(float64(max(d, 1))) * perOctave)
	for len(h.Counts) <= i {
		h.Counts = append(h.Counts, 0)
	}
	h.Counts[i]++
	h.N++
	h.Max = max(h.Max, int64(d))
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	for len(h.Counts) < len(o.Counts) {
		h.Counts = append(h.Counts, 0)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
	h.Max = max(h.Max, o.Max)
}

// Quantile is the upper bound of the bucket holding quantile q (0 … 1).
func (h Histogram) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.N)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= max(rank, 1) {
			return min(time.Duration(math.Exp2(float64(i+1)/perOctave)), time.Duration(h.Max))
		}
	}
	return time.Duration(h.Max)
}
