//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

var (
	_ fence.Device         = (*Device)(nil)
	_ fence.TargetedDevice = (*Device)(nil)
	_ fence.Releaser       = (*Device)(nil)
	_ fence.Renewer        = (*Device)(nil)
)

// Device is the storage fence of one host.
type Device struct {
	cfg Config
	log *slog.Logger

	// mu guards last.
	mu   sync.Mutex
	last *fence.BlocklistProof // the record of this Device's latest Off
}

// New returns the device for cfg. It does not connect; each call does.
// A nil log discards.
func New(cfg Config, log *slog.Logger) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Device{cfg: cfg, log: log.With("driver", Driver, "host", cfg.Host)}, nil
}

// prior returns the Device's own record of e from its latest Off.
func (d *Device) prior(e entry) (fence.BlocklistEntry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		return fence.BlocklistEntry{}, false
	}
	for _, r := range d.last.Entries {
		if r.Ours && r.Addr == e.String() && r.Range == e.isRange() {
			return r, true
		}
	}
	return fence.BlocklistEntry{}, false
}

// claim is prior, and for an entry the Device has no record of, vigil's
// when before lists it with vigil's expiry, made at or after since (within
// the clock skew): an add of this incident whose record was lost, by this
// Device (a reply timed out) or by a leader that died before the record was
// written. An entry made with another expiry, or before the incident,
// stays someone else's.
func (d *Device) claim(before blocklist, since time.Time) func(entry) (fence.BlocklistEntry, bool) {
	return func(e entry) (fence.BlocklistEntry, bool) {
		if r, ok := d.prior(e); ok || since.IsZero() {
			return r, ok
		}
		until, present := before.until(e)
		if !present || !d.madeSince(until, since) {
			return fence.BlocklistEntry{}, false
		}
		made := until.Add(-d.cfg.Expire)
		d.log.Info("blocklist entry claimed: vigil's expiry, made since the incident opened", "entry", e.String(), "until", until, "since", since)
		return fence.BlocklistEntry{Addr: e.String(), Range: e.isRange(), Ours: true, Expire: d.cfg.Expire, SentAt: made, Until: until}, true
	}
}

// madeSince tells whether an entry listed until then has vigil's expiry
// and was made at or after since, within the clock skew.
func (d *Device) madeSince(until, since time.Time) bool {
	made := until.Add(-d.cfg.Expire)
	return !made.Before(since.Add(-d.cfg.ClockSkew)) && !made.After(time.Now().Add(d.cfg.ClockSkew))
}

// Off is OffTarget with nothing known about the host's disks.
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
	return d.OffTarget(ctx, fence.Target{})
}

// OffTarget blocklists the host (its IPs, then its lock owners' exact
// addresses) and verifies the fence of the target's disks; see the package
// documentation. On failure the returned Proof, if it has a Blocklist, is
// the record of the entries vigil added or tried to add (not evidence).
func (d *Device) OffTarget(ctx context.Context, tgt fence.Target) (fence.Proof, error) {
	start := time.Now()
	rec := newRecord(d.cfg, tgt.BootID)
	refs, scan, err := d.imageRefs(ctx, tgt)
	if err != nil {
		return fence.Proof{}, err
	}
	s, err := d.connect(ctx)
	if err != nil {
		return fence.Proof{}, err
	}
	defer s.close()
	for _, own := range s.self {
		if onHost(own, d.cfg.HostIPs) {
			return fence.Proof{}, fmt.Errorf("%w: own client address %s", ErrSelfFence, own)
		}
	}
	before, err := s.blocklistLS()
	if err != nil {
		return fence.Proof{}, err
	}
	ad := newAdder(s, d.cfg.Expire, before, d.claim(before, tgt.Since), d.log)
	if !d.cfg.OwnerEntriesOnly {
		for _, ip := range d.cfg.HostIPs {
			ad.want(entry{a: wholeIP(ip)})
		}
	}
	imgs, readErr := d.readOwners(ctx, s, ad, rec, refs, scan)
	defer closeImages(imgs)
	if err := d.coverShortInherited(ad); err != nil {
		readErr = errors.Join(readErr, err)
	}
	entries, addErr := ad.wait()
	rec.Entries = entries
	// From here on the record is returned even on failure: it names what
	// vigil added, for unfencing.
	failed := func(err error) (fence.Proof, error) {
		rec.FencedAt = time.Now()
		sortEntries(rec.Entries)
		d.keep(rec)
		return proofOf(rec, time.Since(start)), err
	}
	if err := errors.Join(readErr, addErr); err != nil {
		return failed(err)
	}
	if len(ad.wanted) == 0 {
		return failed(fmt.Errorf("cephbl: %w: no lock owner of the host's %d images, and whole-IP entries are off", fence.ErrNotVerified, len(imgs)))
	}
	if err := d.verifyOff(ctx, s, rec, ad.wanted, imgs); err != nil {
		return failed(err)
	}
	rec.Verified, rec.FencedAt = true, time.Now()
	sortEntries(rec.Entries)
	d.keep(rec)
	p := proofOf(rec, time.Since(start))
	d.log.Info("fence verified", "detail", p.Detail)
	return p, nil
}

func (d *Device) keep(rec *fence.BlocklistProof) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = rec
}

// readOwners opens the host's images and wants the exact address of every
// lock owner on the host.
func (d *Device) readOwners(ctx context.Context, s *session, ad *adder, rec *fence.BlocklistProof, refs []ImageRef, scan bool) ([]openImage, error) {
	var imgs []openImage
	var missing []ImageRef
	var err error
	if scan {
		imgs, err = d.scanPools(ctx, s)
	} else {
		imgs, missing, err = d.openAll(ctx, s, refs)
	}
	for _, m := range missing {
		rec.Missing = append(rec.Missing, m.String())
		d.log.Info("image missing", "image", m.String())
	}
	if err != nil {
		return imgs, err
	}
	for _, im := range imgs {
		rec.Images = append(rec.Images, im.ref.String())
		owners, err := lockOwners(im.ref, im.img)
		if err != nil {
			return imgs, err
		}
		for _, o := range owners {
			if onHost(o, d.cfg.HostIPs) {
				rec.Owners = append(rec.Owners, o.String())
				ad.want(entry{a: o})
			}
		}
	}
	return imgs, nil
}

// coverShortInherited makes the fence last when it inherits an entry that
// expires too soon: a whole-IP entry someone else made with less than
// MinLifetime left gets vigil's own range entry for the same IP (Ceph keeps
// an entry's first expiry, so re-adding it would not extend it). An exact
// entry inherited short is covered by the whole-IP entries; with
// OwnerEntriesOnly nothing may cover it, and the fence fails.
func (d *Device) coverShortInherited(ad *adder) error {
	now := time.Now()
	var errs []error
	for _, e := range slices.Clone(ad.wanted) {
		until, present := ad.before.until(e)
		if _, ours := ad.prior(e); !present || ours || until.Sub(now) >= d.cfg.MinLifetime {
			continue
		}
		switch {
		case !e.isRange() && e.a == wholeIP(e.a.IP):
			ad.want(rangeOf(e.a.IP))
		case d.cfg.OwnerEntriesOnly:
			errs = append(errs, fmt.Errorf("%w: %s, added by someone else, expires at %s (in %v, below min_lifetime %v) and with owner entries only nothing may cover it: remove it (ceph osd blocklist rm %s) so that vigil adds its own",
				ErrShortLifetime, e, until.UTC().Format(time.RFC3339), until.Sub(now).Round(time.Second), d.cfg.MinLifetime, e))
		}
	}
	return errors.Join(errs...)
}

// verifyOff polls until every relied-on entry is listed, the OSDs serving
// the images' pools enforce them (barrier), and no watcher is left on the
// images that the blocklist does not stop; or until VerifyTimeout.
func (d *Device) verifyOff(ctx context.Context, s *session, rec *fence.BlocklistProof, wanted []entry, imgs []openImage) error {
	var pools []string
	for _, im := range imgs {
		pools = append(pools, im.ref.Pool)
	}
	pools = append(pools, d.cfg.Pools...)
	slices.Sort(pools)
	pools = slices.Compact(pools)
	relied := slices.Clone(wanted)
	var epoch uint64
	return d.poll(ctx, func() (string, error) {
		b, err := s.blocklistLS()
		if err != nil {
			return "", err
		}
		var missing []string
		for i, r := range rec.Entries {
			until, ok := b.until(relied[i])
			if !ok {
				missing = append(missing, r.Addr)
				continue
			}
			if r.Ours && r.Until.IsZero() && !stillOurs(r, until, time.Now(), d.cfg.ClockSkew) {
				// Someone else added it between our listing and our add:
				// Ceph kept their expiry, so it is theirs.
				rec.Entries[i].Ours = false
			}
			rec.Entries[i].Until = until
		}
		if len(missing) > 0 {
			return "entries not listed: " + fmt.Sprint(missing), nil
		}
		if epoch == 0 {
			e, pgs, pending, err := d.barrier(ctx, s, relied, pools)
			if err != nil || pending != "" {
				return pending, err
			}
			epoch, rec.OSDMapEpoch, rec.PGs, rec.Pools = e, e, pgs, pools
		}
		for _, im := range imgs {
			if stray, err := d.strayWatcher(im, b, s.self); err != nil || stray != "" {
				return stray, err
			}
		}
		return "", nil
	})
}

// poll runs check every PollInterval until it reports nothing pending
// ("", nil). At the deadline (VerifyTimeout, or ctx's if sooner) it fails
// with ErrNotVerified, naming what was still pending and the last error.
func (d *Device) poll(ctx context.Context, check func() (pending string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.VerifyTimeout)
	defer cancel()
	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	var pending string
	var lastErr error
	for {
		p, err := check()
		if err == nil && p == "" {
			return nil
		}
		if err != nil {
			lastErr = err
		} else {
			pending = p
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cephbl: %w: still pending at the deadline: %s: %w", fence.ErrNotVerified, pending, errors.Join(lastErr, ctx.Err()))
		case <-tick.C:
		}
	}
}

// On refuses: lifting a storage fence lets stale writers write again, so it
// needs the fence's record and evidence that the host was reset (Release).
func (d *Device) On(context.Context) error {
	return fmt.Errorf("cephbl: %w: lift a blocklist fence with Release: the fence's record and the host's new boot id, or an operator's force", fence.ErrNoResetEvidence)
}

// Status reads the blocklist: StatusOff when the host's entries are
// present (every host IP covered, or with OwnerEntriesOnly any entry on
// them), StatusOn otherwise. It also proves the user may fence: it runs a
// refused-by-design `osd blocklist rm` (an invalid address: the mon checks
// the caps first, then answers EINVAL) and reads each configured pool. A
// user without the caps fails with fence.ErrRefused.
func (d *Device) Status(ctx context.Context) (fence.Status, error) {
	s, err := d.connect(ctx)
	if err != nil {
		return fence.StatusUnknown, err
	}
	defer s.close()
	b, err := s.blocklistLS()
	if err != nil {
		return fence.StatusUnknown, err
	}
	if err := d.proveCaps(s); err != nil {
		return fence.StatusUnknown, err
	}
	return status(b, d.cfg.HostIPs, d.cfg.OwnerEntriesOnly), nil
}
