//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/vigil-ha/vigil/internal/fence"
)

var _ fence.Device = (*Device)(nil)

// Device is the storage fence of one host.
type Device struct {
	cfg Config
	log *slog.Logger

	// mu guards added and fenced.
	mu     sync.Mutex
	added  []addr // entries this Device added and has not removed, in order
	fenced bool   // an Off has added or found this host's entries
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

// Added returns the entries this Device added and has not removed yet.
func (d *Device) Added() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := make([]string, len(d.added))
	for i, a := range d.added {
		s[i] = a.String()
	}
	return s
}

// owns tells whether this Device added a (and has not removed it).
func (d *Device) owns(a addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.added, a)
}

func (d *Device) remember(as ...addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range as {
		if !slices.Contains(d.added, a) {
			d.added = append(d.added, a)
		}
	}
	if len(as) > 0 {
		d.fenced = true
	}
}

func (d *Device) forget(gone []addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.added = slices.DeleteFunc(d.added, func(a addr) bool { return slices.Contains(gone, a) })
}

// Off blocklists the host (its IPs, then its lock owners' exact addresses)
// and verifies the fence; see the package documentation. The Proof lists
// the entries it added; they are also kept for On.
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
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
	start := time.Now()
	p := proofDetail{Host: d.cfg.Host, Expire: d.cfg.Expire}
	ad := newAdder(s, d.cfg.Expire, before, d.owns, d.log)
	if !d.cfg.OwnerEntriesOnly {
		for _, ip := range d.cfg.HostIPs {
			ad.want(wholeIP(ip))
		}
	}
	imgs, readErr := d.readOwners(ctx, s, ad, &p)
	defer closeImages(imgs)
	ours, addErr := ad.wait()
	d.remember(ours...) // even if Off fails: On must be able to remove them
	if err := errors.Join(readErr, addErr); err != nil {
		return fence.Proof{}, err
	}
	if len(ad.wanted) == 0 {
		return fence.Proof{}, fmt.Errorf("cephbl: %w: no lock owner of the host's %d images, and whole-IP entries are off", fence.ErrNotVerified, len(imgs))
	}
	if err := d.verifyOff(ctx, s, ad.wanted, imgs); err != nil {
		return fence.Proof{}, err
	}
	p.Added, p.Existing, p.Verified = ours, ad.others, time.Since(start)
	proof := fence.Proof{Driver: Driver, Detail: p.String()}
	d.log.Info("fence verified", "detail", proof.Detail)
	return proof, nil
}

// readOwners opens the host's images and wants the exact address of every
// lock owner on the host.
func (d *Device) readOwners(ctx context.Context, s *session, ad *adder, p *proofDetail) ([]openImage, error) {
	imgs, err := d.openImages(ctx, s, p)
	if err != nil {
		return imgs, err
	}
	for _, im := range imgs {
		owners, err := lockOwners(im.ref, im.img)
		if err != nil {
			return imgs, err
		}
		for _, o := range owners {
			if onHost(o, d.cfg.HostIPs) {
				p.Owners++
				ad.want(o)
			}
		}
	}
	return imgs, nil
}

type openImage struct {
	ref ImageRef
	img *rbd.Image
}

func closeImages(imgs []openImage) {
	for _, im := range imgs {
		_ = im.img.Close() // read-only handle; nothing to flush
	}
}

// openImages opens the host's images read-only: Images, ListImages and
// Pools, each once. Images that do not exist are counted in p.Missing.
func (d *Device) openImages(ctx context.Context, s *session, p *proofDetail) ([]openImage, error) {
	refs := slices.Clone(d.cfg.Images)
	if d.cfg.ListImages != nil {
		more, err := d.cfg.ListImages(ctx)
		if err != nil {
			return nil, fmt.Errorf("cephbl: %w: list the host's images: %w", fence.ErrNotVerified, err)
		}
		for _, r := range more {
			if err := r.validate(); err != nil {
				return nil, err
			}
		}
		refs = append(refs, more...)
	}
	for _, pool := range d.cfg.Pools {
		more, err := s.poolImages(pool)
		if err != nil {
			return nil, err
		}
		refs = append(refs, more...)
	}
	slices.SortFunc(refs, func(a, b ImageRef) int { return strings.Compare(a.String(), b.String()) })
	refs = slices.Compact(refs)
	var imgs []openImage
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return imgs, fmt.Errorf("cephbl: %w: %w", fence.ErrNotVerified, err)
		}
		img, err := s.openImage(ref)
		if err != nil {
			return imgs, err
		}
		if img == nil {
			p.Missing++
			d.log.Info("image missing", "image", ref.String())
			continue
		}
		imgs = append(imgs, openImage{ref: ref, img: img})
	}
	p.Images = len(imgs)
	return imgs, nil
}

// verifyOff polls until every wanted entry is listed and no watcher of the
// host is left on the images, or until VerifyTimeout or ctx's deadline.
func (d *Device) verifyOff(ctx context.Context, s *session, wanted []addr, imgs []openImage) error {
	return d.poll(ctx, func() (string, error) {
		b, err := s.blocklistLS()
		if err != nil {
			return "", err
		}
		var missing []addr
		for _, a := range wanted {
			if _, ok := b.Entries[a]; !ok {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			return "entries not listed: " + joinAddrs(missing), nil
		}
		for _, im := range imgs {
			ws, err := watchers(im.ref, im.img)
			if err != nil {
				return "", err
			}
			for _, w := range ws {
				if onHost(w, d.cfg.HostIPs) {
					return fmt.Sprintf("watcher %s of the host still on %s", w, im.ref), nil
				}
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

// On removes the entries this Device added (Added). A Device that never
// fenced knows none and fails with ErrUnknownEntries: after a controller
// failover, call Remove with the entries from the stored Proof.
func (d *Device) On(ctx context.Context) error {
	d.mu.Lock()
	entries, fenced := slices.Clone(d.added), d.fenced
	d.mu.Unlock()
	if len(entries) == 0 {
		if fenced {
			return nil // already removed
		}
		return ErrUnknownEntries
	}
	return d.remove(ctx, entries)
}

// Remove removes exactly the given entries (strings as in the Proof) and
// verifies they are no longer listed. Every entry must be on the host's
// IPs (ErrForeignEntry otherwise, before anything changes). Entries that are
// already gone are fine.
func (d *Device) Remove(ctx context.Context, entries []string) error {
	as := make([]addr, 0, len(entries))
	for _, e := range entries {
		a, err := parseAddr(e)
		if err != nil {
			return err
		}
		if !onHost(a, d.cfg.HostIPs) {
			return fmt.Errorf("%w: %s", ErrForeignEntry, e)
		}
		as = append(as, a)
	}
	return d.remove(ctx, as)
}

func (d *Device) remove(ctx context.Context, entries []addr) error {
	s, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	// Concurrent, like the adds: the removals share one osdmap epoch.
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, a := range entries {
		wg.Go(func() {
			if errs[i] = s.blocklistRm(a); errs[i] == nil {
				d.log.Info("unblocklisted", "entry", a.String())
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err // a retry removes them again; removing an absent entry is fine
	}
	err = d.poll(ctx, func() (string, error) {
		b, err := s.blocklistLS()
		if err != nil {
			return "", err
		}
		var left []addr
		for _, a := range entries {
			if _, ok := b.Entries[a]; ok {
				left = append(left, a)
			}
		}
		if len(left) > 0 {
			return "entries still listed: " + joinAddrs(left), nil
		}
		return "", nil
	})
	if err != nil {
		return err
	}
	d.forget(entries)
	return nil
}

// Status reads the blocklist: StatusOff when the host's entries are
// present (every host IP covered, or with OwnerEntriesOnly any entry on
// them), StatusOn otherwise.
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
	return status(b, d.cfg.HostIPs, d.cfg.OwnerEntriesOnly), nil
}

// RemoveHostEntries removes every blocklist entry on the host's IPs, whoever
// added it, and returns them. It is the operator's manual unfence (`vigil
// fence on HOST`), used when no Proof of the fence is at hand; entries on any
// other IP are never touched.
func (d *Device) RemoveHostEntries(ctx context.Context) ([]string, error) {
	s, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.blocklistLS()
	s.close()
	if err != nil {
		return nil, err
	}
	var mine []addr
	for a := range b.Entries {
		if onHost(a, d.cfg.HostIPs) {
			mine = append(mine, a)
		}
	}
	slices.SortFunc(mine, func(x, y addr) int { return strings.Compare(x.String(), y.String()) })
	if len(mine) == 0 {
		return nil, nil
	}
	if err := d.remove(ctx, mine); err != nil {
		return nil, err
	}
	out := make([]string, len(mine))
	for i, a := range mine {
		out[i] = a.String()
	}
	return out, nil
}
