//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

// BenchmarkOff measures Off, from the call to the verified Proof, on a host
// whose every image has a live writer holding its lock. The timer runs only
// around Off; starting the writers and unfencing are not counted.
// "cutoff-ms" is how long after Off started the slowest writer saw its
// first ESHUTDOWN.
//
//	VIGIL_INTEGRATION=1 go test -tags pacific -run '^$' -bench Off -benchtime 5x ./internal/fence/cephbl/
func BenchmarkOff(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("images=%d", n), func(b *testing.B) {
			e := setup(b, "127.0.0.8")
			var cutoff time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d, writers := e.benchHost(n, i)
				b.StartTimer()
				start := time.Now()
				proof, err := d.Off(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cutoff += e.slowestCutoff(writers, start)
				e.release(d, proof)
				for _, w := range writers {
					if err := w.Stop(); err != nil {
						b.Fatal(err)
					}
				}
				e.clearBlocklist(e.hostIP) // librbd's own entries from lock breaks
			}
			b.ReportMetric(float64(cutoff.Milliseconds())/float64(b.N), "cutoff-ms")
		})
	}
}

// benchHost creates n images, each with a writer from the env's host that
// holds its lock, and the Device that fences them.
func (e *env) benchHost(n, round int) (*Device, []*ceph.Writer) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	var imgs []ImageRef
	var writers []*ceph.Writer
	for j := range n {
		img := e.image(fmt.Sprintf("bench-%d-%d", round, j))
		cfg := e.cluster.WriterConfig(e.writer, img.Name, fmt.Sprintf("bench-%d-%d-%d", n, round, j))
		cfg.SourceIP = e.hostIP
		w, err := ceph.StartLockedWriter(ctx, cfg)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := w.WaitWrites(ctx, 1); err != nil {
			e.t.Fatal(err)
		}
		imgs, writers = append(imgs, img), append(writers, w)
	}
	return e.device(e.config(imgs...)), writers
}

// slowestCutoff waits for every writer's first failed write since start
// and returns the latest, measured from start.
func (e *env) slowestCutoff(writers []*ceph.Writer, start time.Time) time.Duration {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	var slowest time.Duration
	for _, w := range writers {
		failed, err := w.WaitFailedWrite(ctx, start)
		if err != nil {
			e.t.Fatal(err)
		}
		slowest = max(slowest, failed.Time.Sub(start))
	}
	return slowest
}

// BenchmarkOffPool measures Off+verify on a pool of 1,000 images of which
// 20 are the host's instances' disks, each with a live writer from the host
// holding its lock: "targeted" is given the 20 instances (from Nova),
// "pool-scan" nothing (vigil fence off by hand), so it reads all 1,000 once.
// The pool has 32 PGs; the barrier probes each. Starting writers and
// unfencing are not timed.
//
//	VIGIL_INTEGRATION=1 go test -tags pacific -run '^$' -bench OffPool -benchtime 3x ./internal/fence/cephbl/
func BenchmarkOffPool(b *testing.B) {
	const images, onHost, pool = 1000, 20, "bench"
	e := setup(b, "127.0.0.18")
	e.benchPool(pool, images)
	var instances []string
	var disks []ImageRef
	for i := range onHost {
		instances = append(instances, fmt.Sprintf("bench-%04d", i))
		disks = append(disks, novaDisk(pool, instances[i]))
	}
	cfg := e.config()
	cfg.Pools = []string{pool}
	for _, bc := range []struct {
		name string
		tgt  fence.Target
	}{
		{"targeted", fence.Target{Instances: instances}},
		{"pool-scan", fence.Target{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				writers := e.startWriters(pool, disks, fmt.Sprintf("%s-%d", bc.name, i))
				d := e.device(cfg)
				b.StartTimer()
				proof, err := d.OffTarget(b.Context(), bc.tgt)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if got := len(proof.Blocklist.Images); got != onHost {
					b.Fatalf("checked %d images, want the host's %d: %s", got, onHost, proof.Detail)
				}
				if i == 0 {
					b.Log(proof.Detail)
				}
				e.release(d, proof)
				for _, w := range writers {
					if err := w.Stop(); err != nil {
						b.Fatal(err)
					}
				}
				e.clearBlocklist(e.hostIP)
			}
		})
	}
}

// benchPool creates pool with 32 PGs and n images "bench-NNNN_disk" in
// it, once per cluster.
func (e *env) benchPool(pool string, n int) {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := e.cluster.Ceph(ctx, "osd", "pool", "create", pool, "32", "32"); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cluster.RBD(ctx, "pool", "init", pool); err != nil {
		e.t.Fatal(err)
	}
	conn, err := rados.NewConnWithUser("admin")
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Shutdown()
	if err := conn.ReadConfigFile(e.cluster.ConfPath()); err != nil {
		e.t.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		e.t.Fatal(err)
	}
	io, err := conn.OpenIOContext(pool)
	if err != nil {
		e.t.Fatal(err)
	}
	defer io.Destroy()
	have, err := rbd.GetImageNames(io)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("bench-%04d_disk", i)
		if slices.Contains(have, name) {
			continue
		}
		if err := rbd.CreateImage(io, name, 64<<20, rbd.NewRbdImageOptions()); err != nil {
			e.t.Fatal(err)
		}
	}
}

// startWriters starts one locked writer per disk from the env's host, all
// at once.
func (e *env) startWriters(pool string, disks []ImageRef, tag string) []*ceph.Writer {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	writers := make([]*ceph.Writer, len(disks))
	errs := make([]error, len(disks))
	var wg sync.WaitGroup
	for i, disk := range disks {
		wg.Go(func() {
			cfg := e.cluster.WriterConfig(e.writer, disk.Name, fmt.Sprintf("%s-%d", tag, i))
			cfg.Pool, cfg.SourceIP = pool, e.hostIP
			if writers[i], errs[i] = ceph.StartLockedWriter(ctx, cfg); errs[i] == nil {
				errs[i] = writers[i].WaitWrites(ctx, 1)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.t.Fatal(err)
	}
	return writers
}
