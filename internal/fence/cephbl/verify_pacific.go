//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ceph/go-ceph/rbd"

	"github.com/vigil-ha/vigil/internal/fence"
)

type openImage struct {
	ref ImageRef
	img *rbd.Image
}

func closeImages(imgs []openImage) {
	for _, im := range imgs {
		_ = im.img.Close() // read-only handle; nothing to flush
	}
}

// novaDisk is the name Nova's RBD image backend gives an instance's root
// disk in images_rbd_pool (nova/virt/libvirt/imagebackend.py, Rbd:
// "<instance uuid>_disk").
func novaDisk(pool, instance string) ImageRef { return ImageRef{Pool: pool, Name: instance + "_disk"} }

// imageRefs returns the disks that matter for this fence: the configured
// ones, the lister's, and the target's (its instances' disks in each of
// Pools, its volumes). scan is true when none is known and the pools are to
// be searched for the host's images instead.
func (d *Device) imageRefs(ctx context.Context, tgt fence.Target) (refs []ImageRef, scan bool, err error) {
	refs = slices.Clone(d.cfg.Images)
	if d.cfg.ListImages != nil {
		more, err := d.cfg.ListImages(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("cephbl: %w: list the host's images: %w", fence.ErrNotVerified, err)
		}
		refs = append(refs, more...)
	}
	for _, disk := range tgt.Disks {
		pool, name, ok := strings.Cut(disk, "/")
		refs = append(refs, ImageRef{Pool: pool, Name: name})
		if !ok {
			return nil, false, fmt.Errorf("cephbl: target disk %q is not pool/image", disk)
		}
	}
	if len(tgt.Instances) > 0 && len(d.cfg.Pools) == 0 && len(refs) == 0 {
		return nil, false, fmt.Errorf("cephbl: %w: the host has %d instances but no pool is configured to find their disks in (set pool to Nova's images_rbd_pool)",
			fence.ErrNotVerified, len(tgt.Instances))
	}
	for _, inst := range tgt.Instances {
		for _, pool := range d.cfg.Pools {
			refs = append(refs, novaDisk(pool, inst))
		}
	}
	for _, r := range refs {
		if err := r.validate(); err != nil {
			return nil, false, err
		}
	}
	slices.SortFunc(refs, func(a, b ImageRef) int { return strings.Compare(a.String(), b.String()) })
	refs = slices.Compact(refs)
	return refs, len(refs) == 0 && len(tgt.Instances) == 0 && len(d.cfg.Pools) > 0, nil
}

// openAll opens refs read-only, Parallel at a time. Images that do not exist
// are returned in missing.
func (d *Device) openAll(ctx context.Context, s *session, refs []ImageRef) (imgs []openImage, missing []ImageRef, err error) {
	opened := make([]*rbd.Image, len(refs))
	errs := d.parallel(ctx, len(refs), func(i int) (err error) {
		opened[i], err = s.openImage(refs[i])
		return err
	})
	for i, img := range opened {
		switch {
		case img != nil:
			imgs = append(imgs, openImage{ref: refs[i], img: img})
		case errs[i] == nil:
			missing = append(missing, refs[i])
		}
	}
	return imgs, missing, errors.Join(errs...)
}

// scanPools opens every image of the configured pools and keeps those the
// host uses: a watcher or a lock owner on its IPs.
func (d *Device) scanPools(ctx context.Context, s *session) ([]openImage, error) {
	var refs []ImageRef
	for _, pool := range d.cfg.Pools {
		more, err := s.poolImages(pool)
		if err != nil {
			return nil, err
		}
		refs = append(refs, more...)
	}
	imgs, _, err := d.openAll(ctx, s, refs)
	if err != nil {
		closeImages(imgs)
		return nil, err
	}
	keep := make([]bool, len(imgs))
	errs := d.parallel(ctx, len(imgs), func(i int) error {
		ws, err := watchers(imgs[i].ref, imgs[i].img)
		if err != nil {
			return err
		}
		owners, err := lockOwners(imgs[i].ref, imgs[i].img)
		keep[i] = slices.ContainsFunc(append(ws, owners...), func(a addr) bool { return onHost(a, d.cfg.HostIPs) })
		return err
	})
	var host []openImage
	for i, im := range imgs {
		if keep[i] {
			host = append(host, im)
		} else {
			_ = im.img.Close()
		}
	}
	return host, errors.Join(errs...)
}

// parallel runs f(0..n-1), Parallel at a time, and returns each one's error.
// Once ctx ends, the calls not started fail with it.
func (d *Device) parallel(ctx context.Context, n int, f func(i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, d.cfg.Parallel)
	var wg sync.WaitGroup
	for i := range n {
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("cephbl: %w: %w", fence.ErrNotVerified, err)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	return errs
}

// barrier proves the OSDs enforce the relied-on entries: it reads the
// osdmap epoch that carries them, brings the driver's own client to the
// latest epoch, and has every PG of pools (every pool when none is named)
// answer one request at that epoch (pg.go explains why that is proof). It
// returns the epoch and the number of PGs that answered; pending says what
// is not there yet.
func (d *Device) barrier(ctx context.Context, s *session, relied []entry, pools []string) (epoch uint64, pgs int, pending string, err error) {
	m, b, err := s.osdDump()
	if err != nil {
		return 0, 0, "", err
	}
	for _, e := range relied {
		if _, ok := b.until(e); !ok {
			return 0, 0, "entry " + e.String() + " not yet in the osdmap the mon serves", nil
		}
	}
	if err := s.waitLatestMap(); err != nil {
		return 0, 0, "", err
	}
	byName := map[string]poolInfo{}
	for _, p := range m.Pools {
		byName[p.Name] = p
	}
	if len(pools) == 0 {
		for _, p := range m.Pools {
			pools = append(pools, p.Name)
		}
	}
	type probe struct{ pool, name string }
	var probes []probe
	for _, pool := range pools {
		info, ok := byName[pool]
		switch {
		case !ok:
			return 0, 0, "", fmt.Errorf("cephbl: %w: pool %q is not in osdmap epoch %d", fence.ErrNotVerified, pool, m.Epoch)
		case info.ObjectHash != objectHashRjenkins:
			return 0, 0, "", fmt.Errorf("cephbl: %w: pool %q uses object hash %d, not rjenkins: the driver cannot address its PGs", fence.ErrNotVerified, pool, info.ObjectHash)
		}
		names, err := probeNames(info.PGNum)
		if err != nil {
			return 0, 0, "", err
		}
		for _, n := range names {
			probes = append(probes, probe{pool, n})
		}
	}
	errs := d.parallel(ctx, len(probes), func(i int) error { return s.probe(probes[i].pool, probes[i].name) })
	if err := errors.Join(errs...); err != nil {
		return 0, 0, "", err
	}
	return m.Epoch, len(probes), "", nil
}

// strayWatcher returns what is wrong with an image's watchers once the
// OSDs enforce the blocklist: a watcher on the host's IPs still listed (its
// OSD has not dropped it), or a watcher from an address that is not
// blocklisted at all (a host IP missing from the config, or a second
// writer elsewhere). The driver's own address is not counted.
func (d *Device) strayWatcher(im openImage, b blocklist, self []addr) (string, error) {
	ws, err := watchers(im.ref, im.img)
	if err != nil {
		return "", err
	}
	for _, w := range ws {
		switch {
		case slices.Contains(self, w):
		case onHost(w, d.cfg.HostIPs):
			return fmt.Sprintf("watcher %s of the host still on %s", w, im.ref), nil
		case !b.blocked(w):
			return fmt.Sprintf("watcher %s on %s is not blocklisted: a client the fence does not stop (a host IP missing from storage_ips, or another writer)", w, im.ref), nil
		}
	}
	return "", nil
}
