//go:build pacific

package cephbl

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

// laggyOSD is ceph.conf for an OSD that gets every message from the mon,
// new osdmaps included, up to 3 s late (uniformly random): the mon lists a
// blocklist entry long before the OSD enforces it, as on a loaded cluster.
const laggyOSD = `[osd]
ms inject delay type = mon
ms inject delay max = 3
ms inject delay probability = 1
`

// setupLaggy starts a cluster of its own whose OSD learns osdmaps late
// (port base 41400, clear of the shared one's 41200).
func setupLaggy(t *testing.T, hostIP string) *env {
	t.Helper()
	_, writer := bed.Get(t) // skips unless VIGIL_INTEGRATION=1; builds the writer
	dir, err := os.MkdirTemp(bed.RunDir, "vigil-laggy-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ceph.DefaultConfig(dir)
	cfg.PortBase, cfg.ExtraConf = 21400, laggyOSD
	c, err := ceph.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	e := &env{t: t, cluster: c, writer: writer, hostIP: netip.MustParseAddr(hostIP)}
	t.Cleanup(func() { e.clearBlocklist(e.hostIP) })
	return e
}

// Off must not report a verified fence while an OSD still accepts the
// host's writes. Fails before the fix: with no image configured (a
// ceph-blocklist device without pool) Off returned once the mon listed the
// entry, and the writer's writes started after that still succeeded.
func TestOffWaitsUntilTheOSDsEnforceTheBlocklist(t *testing.T) {
	e := setupLaggy(t, "127.0.0.10")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for round := range 3 { // the lag is random: three rounds catch a lax Off for sure
		img := e.image(fmt.Sprintf("laggy-%d", round))
		w := e.startWriter(ctx, img, fmt.Sprintf("laggy-%d", round), e.hostIP)
		d := e.device(e.config())
		proof, err := d.Off(ctx)
		if err != nil {
			t.Fatal(err)
		}
		verified := time.Now()
		t.Logf("round %d: %s", round, proof.Detail)
		if _, err := w.WaitFailedWrite(ctx, verified); err != nil {
			t.Fatal(err)
		}
		for _, r := range w.Records() {
			if r.Event == ceph.EventWrite && r.OK && r.Time.After(verified) {
				t.Errorf("round %d: write %d started %v after Off returned verified and succeeded: the OSD did not enforce the blocklist yet",
					round, r.Seq, r.Time.Sub(verified).Round(time.Millisecond))
			}
		}
		if err := w.Stop(); err != nil {
			t.Fatal(err)
		}
		e.clearBlocklist(e.hostIP)
	}
}
