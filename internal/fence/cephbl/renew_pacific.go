//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// Renew keeps a blocklist fence in force: given the stored proof, it renews
// every entry of vigil's with less than MinLifetime left and checks that
// every entry the fence relies on is still listed. It returns the proof to
// store from now on (new expiries, new entries).
//
// Ceph keeps an entry's first expiry when the same entry is added again
// (measured on 16.2.15), so renewing means removing the entry and adding it
// anew. Never with a gap: first an entry of the other form that blocks the
// same clients is made present (the IP's /32 range for a whole-IP entry,
// the whole-IP entry for a range or an exact entry), then the entry is
// removed and added, then a cover that vigil added for the purpose is
// removed. Each mon command returns once its osdmap epoch is committed, and
// the OSDs apply epochs in order, so every epoch an OSD can hold blocks the
// host's clients.
//
// An entry of vigil's found missing (removed by someone, or lapsed) is added
// again and reported with fence.ErrNotVerified: the host may have been able
// to write in between. An inherited entry that falls below MinLifetime gets
// vigil's own cover, as at Off.
func (d *Device) Renew(ctx context.Context, p fence.Proof) (fence.Proof, error) {
	recs := recordsOf([]fence.Proof{p}, d.cfg.HostIPs)
	if len(recs) != 1 {
		return p, fmt.Errorf("%w: %s", fence.ErrNotMine, p)
	}
	start := time.Now()
	rec := cloneRecord(recs[0])
	s, err := d.connect(ctx)
	if err != nil {
		return p, err
	}
	defer s.close()
	b, err := s.blocklistLS()
	if err != nil {
		return p, err
	}
	var errs []error
	for i := 0; i < len(rec.Entries); i++ { // covers added below are appended and checked too
		r := rec.Entries[i]
		e, err := parseEntry(r.Addr, r.Range)
		if err != nil {
			return p, err
		}
		until, listed := b.until(e)
		now := time.Now()
		switch {
		case r.Ours && !listed:
			errs = append(errs, fmt.Errorf("cephbl: %w: vigil's entry %s was gone (removed by someone, or expired): added again; the host may have written in between", fence.ErrNotVerified, e))
			r.SentAt, r.Expire, r.Until = now, d.cfg.Expire, time.Time{}
			if err := s.add(e, d.cfg.Expire); err != nil {
				return p, err
			}
		case r.Ours && stillOurs(r, until, rec.FencedAt, d.cfg.ClockSkew) && until.Sub(now) < d.cfg.MinLifetime:
			fresh, err := d.renewEntry(s, &b, e, rec)
			if err != nil {
				return p, err
			}
			r = fresh
		case r.Ours && !stillOurs(r, until, rec.FencedAt, d.cfg.ClockSkew):
			r.Ours = false // someone re-made it since: not ours to remove
			fallthrough
		case !r.Ours:
			r.Until = until
			if !listed || until.Sub(now) < d.cfg.MinLifetime {
				if err := d.coverInherited(s, &b, e, rec); err != nil {
					errs = append(errs, err)
				}
			}
		}
		rec.Entries[i] = r
	}
	if b, err = s.blocklistLS(); err != nil {
		return p, err
	}
	for i, r := range rec.Entries {
		if e, _ := parseEntry(r.Addr, r.Range); r.Until.IsZero() {
			rec.Entries[i].Until, _ = b.until(e)
		}
	}
	sortEntries(rec.Entries)
	renewed := proofOf(rec, time.Since(start))
	return renewed, errors.Join(errs...)
}

func cloneRecord(r *fence.BlocklistProof) *fence.BlocklistProof {
	c := *r
	c.Entries = slices.Clone(r.Entries)
	return &c
}

// coverFor returns the entry of the other form that blocks every client e
// blocks, and whether using it fences only the host (an exact entry's cover
// is its whole IP: more than the entry).
func coverFor(e entry) (entry, bool) {
	switch {
	case e.isRange():
		return entry{a: wholeIP(e.rng.Addr())}, true
	case e.a == wholeIP(e.a.IP):
		return rangeOf(e.a.IP), true
	default:
		return entry{a: wholeIP(e.a.IP)}, false
	}
}

// renewEntry removes vigil's entry e and adds it again with a fresh expiry,
// under a cover (see Renew), and returns its new record.
func (d *Device) renewEntry(s *session, b *blocklist, e entry, rec *fence.BlocklistProof) (fence.BlocklistEntry, error) {
	cover, exact := coverFor(e)
	if !exact && d.cfg.OwnerEntriesOnly {
		if _, ok := b.until(cover); !ok {
			return fence.BlocklistEntry{}, fmt.Errorf("%w: %s cannot be renewed without a gap or blocklisting all of %s (owner entries only): renew it by hand or use a longer expiry",
				ErrShortLifetime, e, e.a.IP)
		}
	}
	tempCover := false
	if until, ok := b.until(cover); !ok || time.Until(until) < renewGuard {
		if ok {
			// A cover about to lapse can neither be relied on nor be
			// extended by adding it again.
			return fence.BlocklistEntry{}, fmt.Errorf("%w: cannot renew %s: its cover %s expires at %s", ErrShortLifetime, e, cover, until)
		}
		if err := s.add(cover, d.cfg.Expire); err != nil {
			return fence.BlocklistEntry{}, err
		}
		tempCover = true
	}
	// The add returned, so the cover is in a committed epoch before the
	// removal's. Remove and add e again.
	if err := s.rm(e); err != nil {
		return fence.BlocklistEntry{}, err
	}
	fresh := fence.BlocklistEntry{Addr: e.String(), Range: e.isRange(), Ours: true, Expire: d.cfg.Expire, SentAt: time.Now()}
	if err := s.add(e, d.cfg.Expire); err != nil {
		return fence.BlocklistEntry{}, err // the cover stays: the host stays fenced
	}
	rec.FencedAt = time.Now() // the window of the fresh add ends here
	if tempCover {
		if err := s.rm(cover); err != nil {
			return fence.BlocklistEntry{}, err
		}
	}
	nb, err := s.blocklistLS()
	if err != nil {
		return fence.BlocklistEntry{}, err
	}
	*b = nb
	fresh.Until, _ = b.until(e)
	d.log.Info("blocklist entry renewed", "entry", e.String(), "until", fresh.Until)
	return fresh, nil
}

// coverInherited adds vigil's own entry of the other form for an entry
// someone else made that is gone or expires too soon, and records it.
func (d *Device) coverInherited(s *session, b *blocklist, e entry, rec *fence.BlocklistProof) error {
	cover, exact := coverFor(e)
	if !exact {
		if d.cfg.OwnerEntriesOnly {
			return fmt.Errorf("%w: %s, made by someone else, expires soon and nothing may cover it (owner entries only)", ErrShortLifetime, e)
		}
		return nil // an exact entry: the whole-IP entries cover its client
	}
	for _, r := range rec.Entries {
		if r.Addr == cover.String() && r.Range == cover.isRange() {
			return nil // already part of the fence, and checked in its turn
		}
	}
	if _, ok := b.until(cover); ok {
		return fmt.Errorf("%w: %s and its cover %s are both someone else's; vigil can extend neither", ErrShortLifetime, e, cover)
	}
	sent := time.Now()
	if err := s.add(cover, d.cfg.Expire); err != nil {
		return err
	}
	rec.Entries = append(rec.Entries, fence.BlocklistEntry{Addr: cover.String(), Range: cover.isRange(), Ours: true, Expire: d.cfg.Expire, SentAt: sent})
	return nil
}
