//go:build pacific

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

const blockSize = 4096

func run(ctx context.Context, o options, rep *reporter) error {
	if o.sourceIP != "" {
		if err := setSourceIP(o.sourceIP); err != nil {
			return err
		}
	}
	conn, err := rados.NewConnWithUser(o.user)
	if err != nil {
		return err
	}
	if err := conn.ReadConfigFile(o.conf); err != nil {
		return fmt.Errorf("read %s: %w", o.conf, err)
	}
	if err := conn.SetConfigOption("client_mount_timeout", "10"); err != nil {
		return err
	}
	if err := conn.Connect(); err != nil {
		rep.report(failure(ceph.Record{Event: ceph.EventConnectFailed}, err))
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Shutdown()
	addr, err := conn.GetAddrs()
	if err != nil {
		return err
	}
	rep.report(ceph.Record{Event: ceph.EventConnected, Addr: addr, OK: true})
	ioctx, err := conn.OpenIOContext(o.pool)
	if err != nil {
		return fmt.Errorf("open pool %s: %w", o.pool, err)
	}
	defer ioctx.Destroy()
	img, err := rbd.OpenImage(ioctx, o.image, rbd.NoSnapshot)
	if err != nil {
		return fmt.Errorf("open image %s/%s: %w", o.pool, o.image, err)
	}
	defer img.Close()
	if err := acquire(ctx, img, o, rep); err != nil {
		return err
	}
	defer img.LockRelease() // a clean stop hands the lock back; a crash does not
	return write(ctx, img, o, rep)
}

// acquire takes the exclusive lock, retrying every interval until
// acquireTimeout; every failed attempt is reported.
func acquire(ctx context.Context, img *rbd.Image, o options, rep *reporter) error {
	ctx, cancel := context.WithTimeout(ctx, o.acquireTimeout)
	defer cancel()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		err := img.LockAcquire(rbd.LockModeExclusive)
		if err == nil {
			rep.report(ceph.Record{Event: ceph.EventLocked, OK: true})
			return nil
		}
		rep.report(failure(ceph.Record{Event: ceph.EventLockFailed}, err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("no exclusive lock within %v: %w", o.acquireTimeout, err)
		case <-tick.C:
		}
	}
}

// write writes and flushes one block per tick until ctx ends. A failed
// write is reported and the loop goes on, as a guest's I/O would.
func write(ctx context.Context, img *rbd.Image, o options, rep *reporter) error {
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		rec := ceph.Record{Event: ceph.EventWrite, Seq: seq, Time: time.Now()}
		err := writeBlock(img, o, rep.base, rec)
		if err != nil {
			rec = failure(rec, err)
		} else {
			rec.OK = true
		}
		rep.report(rec)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// writeBlock writes the record itself (JSON, zero-padded to 4 KiB) to block
// seq mod blocks, and flushes.
func writeBlock(img *rbd.Image, o options, base, rec ceph.Record) error {
	rec.Writer, rec.Host = base.Writer, base.Host
	buf := make([]byte, blockSize)
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	copy(buf, data)
	off := int64(rec.Seq%o.blocks) * blockSize
	if _, err := img.WriteAt(buf, off); err != nil {
		return err
	}
	return img.Flush()
}
