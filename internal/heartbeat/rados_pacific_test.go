//go:build pacific

package heartbeat

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"

	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

// bed is this package's Ceph; port base 21600 keeps it clear of the other
// packages' clusters, which go test may run at the same time.
var bed = &ceph.Shared{PortBase: 21600}

func TestMain(m *testing.M) {
	bed.Enabled = os.Getenv("VIGIL_INTEGRATION") == "1"
	bed.RunDir = os.Getenv("VIGIL_RUN")
	os.Exit(bed.Close(m.Run()))
}

func radosStore(tb testing.TB, pool string) *Rados {
	tb.Helper()
	c, _ := bed.Get(tb)
	if _, err := c.Ceph(tb.Context(), "osd", "pool", "create", pool, "8"); err != nil {
		tb.Fatal(err)
	}
	conn, err := rados.NewConn()
	if err != nil {
		tb.Fatal(err)
	}
	if err := conn.ReadConfigFile(c.ConfPath()); err != nil {
		tb.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(conn.Shutdown)
	r, err := NewRados(conn, pool, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r
}

// Against a real Ceph: the same contract as the directory store.
func TestRadosStore(t *testing.T) {
	storeContract(t, radosStore(t, "vigil-heartbeat-test"))
}

// Reading 10,000 hosts' heartbeats from RADOS in one pass (64 shard omaps).
// VIGIL_INTEGRATION=1 go test -tags pacific -run '^$' -bench Rados ./internal/heartbeat/
func BenchmarkRadosReadAll10000(b *testing.B) {
	r := radosStore(b, "vigil-heartbeat-bench")
	now := time.Now()
	ctx := context.Background()
	for i := range 10000 {
		if err := r.Write(ctx, Beat{Host: fmt.Sprintf("cmp%05d", i), BootID: "b", Seq: 1, At: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		all, err := r.ReadAll(ctx)
		if err != nil || len(all) != 10000 {
			b.Fatal(len(all), err)
		}
	}
}
