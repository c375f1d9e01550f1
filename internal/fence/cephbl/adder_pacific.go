//go:build pacific

package cephbl

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// adder decides which entries a fence needs and sends the `osd blocklist
// add` commands concurrently, as soon as each entry is known. The mon
// gathers the changes of one proposal window (paxos_propose_interval, 1 s)
// into one osdmap epoch, so entries decided close together land together:
// sent one after the other, each add waited for its own epoch (~1 s each,
// measured). The whole-IP entries go out before any image is opened.
type adder struct {
	s      *session
	expire time.Duration
	before blocklist          // the blocklist when Off started
	owns   func(addr) bool    // whether the Device added an entry earlier
	log    *slog.Logger       //
	start  time.Time          // for the log
	wanted []addr             // every entry the fence needs, in decision order
	others map[addr]time.Time // wanted entries someone else made, with their expiry

	wg sync.WaitGroup // one per add in flight

	// mu guards ours and errs.
	mu   sync.Mutex
	ours map[addr]bool // entries that are now the Device's
	errs []error
}

func newAdder(s *session, expire time.Duration, before blocklist, owns func(addr) bool, log *slog.Logger) *adder {
	return &adder{
		s: s, expire: expire, before: before, owns: owns, log: log, start: time.Now(),
		others: map[addr]time.Time{}, ours: map[addr]bool{},
	}
}

// want makes a part of the fence: an entry someone else made is left as it
// is (it fences the host, but it is not ours to remove, and adding it again
// would not extend its expiry); one of ours is kept; any other is added.
func (ad *adder) want(a addr) {
	if slices.Contains(ad.wanted, a) {
		return
	}
	ad.wanted = append(ad.wanted, a)
	until, present := ad.before.Entries[a]
	switch owned := ad.owns(a); {
	case present && !owned:
		ad.others[a] = until
		ad.log.Warn("blocklist entry already present", "entry", a.String(), "until", until)
	case present && owned:
		ad.done(a, nil)
	default:
		ad.wg.Add(1)
		go func() {
			defer ad.wg.Done()
			ad.done(a, ad.s.blocklistAdd(a, ad.expire))
		}()
	}
}

func (ad *adder) done(a addr, err error) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if err != nil {
		ad.errs = append(ad.errs, err)
		return
	}
	ad.ours[a] = true
	ad.log.Info("blocklisted", "entry", a.String(), "expire", ad.expire, "elapsed", time.Since(ad.start))
}

// wait waits for every add and returns the wanted entries that are now the
// Device's, in decision order, and the adds' errors.
func (ad *adder) wait() ([]addr, error) {
	ad.wg.Wait()
	ad.mu.Lock()
	defer ad.mu.Unlock()
	var ours []addr
	for _, a := range ad.wanted {
		if ad.ours[a] {
			ours = append(ours, a)
		}
	}
	return ours, errors.Join(ad.errs...)
}
