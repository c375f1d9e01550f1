//go:build pacific

package cephbl

import (
	"context"
	"fmt"
	"testing"
	"time"

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
