package agentnet

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per source address and one for all sources
// together: the Retry answers' limit. It keeps an idle source no longer
// than it takes its bucket to fill.
type limiter struct {
	burst   float64
	every   time.Duration // one token per every
	perSec  float64
	pruneAt int

	// mu guards the buckets.
	mu  sync.Mutex
	per map[netip.AddrPort]*bucket
	all bucket
}

type bucket struct {
	tokens float64
	at     time.Duration
}

func newLimiter(burst int, every time.Duration, perSecond int) *limiter {
	return &limiter{burst: float64(burst), every: every, perSec: float64(perSecond), pruneAt: 1024,
		per: map[netip.AddrPort]*bucket{}, all: bucket{tokens: float64(perSecond)}}
}

// fill adds the tokens earned since b.at, up to max.
func (b *bucket) fill(now time.Duration, rate, max float64) {
	if now > b.at {
		b.tokens = min(max, b.tokens+rate*(now-b.at).Seconds())
		b.at = now
	}
}

// allow takes a token of src's bucket and the global one at now, if both
// have one.
func (l *limiter) allow(src netip.AddrPort, now time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rate := float64(time.Second) / float64(l.every)
	b := l.per[src]
	if b == nil {
		if len(l.per) >= l.pruneAt {
			l.prune(now, rate)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.per[src] = b
	}
	b.fill(now, rate, l.burst)
	l.all.fill(now, l.perSec, l.perSec)
	if b.tokens < 1 || l.all.tokens < 1 {
		return false
	}
	b.tokens--
	l.all.tokens--
	return true
}

// prune drops the sources whose buckets are full again (forgetting them
// changes nothing), and lets the map grow to twice what remains.
func (l *limiter) prune(now time.Duration, rate float64) {
	for src, b := range l.per {
		if b.tokens+rate*(now-b.at).Seconds() >= l.burst {
			delete(l.per, src)
		}
	}
	l.pruneAt = max(1024, 2*len(l.per))
}
