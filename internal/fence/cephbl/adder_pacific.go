//go:build pacific

package cephbl

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// adder decides which entries a fence needs and sends the `osd blocklist
// add` commands concurrently, as soon as each entry is known. The mon
// gathers the changes of one proposal window (paxos_propose_interval, 1 s)
// into one osdmap epoch, so entries decided close together land together:
// sent one after the other, each add waited for its own epoch (~1 s each,
// measured). The whole-IP entries go out before any image is opened.
//
// Every entry vigil sends is recorded (as its own, with the expiry asked
// for and the time) before the command leaves, so that an add whose reply
// is lost is still recognised as vigil's from a later listing.
type adder struct {
	s      *session
	expire time.Duration
	before blocklist // the blocklist when Off started
	// prior is the Device's record of an earlier fence: entries listed
	// before this Off that it shows as vigil's stay vigil's.
	prior func(entry) (fence.BlocklistEntry, bool)
	log   *slog.Logger
	start time.Time

	wanted []entry // every entry the fence needs, in decision order

	wg sync.WaitGroup // one per add in flight

	// mu guards recs and errs.
	mu   sync.Mutex
	recs map[entry]fence.BlocklistEntry
	errs []error
}

func newAdder(s *session, expire time.Duration, before blocklist, prior func(entry) (fence.BlocklistEntry, bool), log *slog.Logger) *adder {
	return &adder{s: s, expire: expire, before: before, prior: prior, log: log, start: time.Now(),
		recs: map[entry]fence.BlocklistEntry{}}
}

// want makes e part of the fence: an entry already listed is relied on as
// it is (vigil's if the Device's record says so, else someone else's, never
// removed by vigil); any other is recorded as vigil's and added.
func (ad *adder) want(e entry) {
	if slices.Contains(ad.wanted, e) {
		return
	}
	ad.wanted = append(ad.wanted, e)
	if until, present := ad.before.until(e); present {
		rec, ours := ad.prior(e)
		if !ours {
			rec = fence.BlocklistEntry{Addr: e.String(), Range: e.isRange()}
			ad.log.Warn("blocklist entry already present", "entry", e.String(), "until", until)
		}
		rec.Until = until
		ad.set(e, rec, nil)
		return
	}
	rec := fence.BlocklistEntry{Addr: e.String(), Range: e.isRange(), Ours: true, Expire: ad.expire, SentAt: time.Now()}
	ad.set(e, rec, nil)
	ad.wg.Go(func() {
		err := ad.s.add(e, ad.expire)
		if err == nil {
			ad.log.Info("blocklisted", "entry", e.String(), "expire", ad.expire, "elapsed", time.Since(ad.start))
		}
		ad.set(e, rec, err)
	})
}

func (ad *adder) set(e entry, rec fence.BlocklistEntry, err error) {
	ad.mu.Lock()
	defer ad.mu.Unlock()
	ad.recs[e] = rec
	if err != nil {
		ad.errs = append(ad.errs, err)
	}
}

// wait waits for every add and returns the records of the wanted entries,
// in decision order, and the adds' errors.
func (ad *adder) wait() ([]fence.BlocklistEntry, error) {
	ad.wg.Wait()
	ad.mu.Lock()
	defer ad.mu.Unlock()
	recs := make([]fence.BlocklistEntry, 0, len(ad.wanted))
	for _, e := range ad.wanted {
		recs = append(recs, ad.recs[e])
	}
	return recs, errors.Join(ad.errs...)
}
