package heartbeat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// storeContract is what every store must do: read back what was written,
// every host in one ReadAll, a restarted writer continuing its counter.
func storeContract(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w1 := NewWriter(s, "cmp1", "boot-a")
	w2 := NewWriter(s, "cmp10", "boot-b")
	w2.Gated = func() bool { return true }
	for range 3 {
		if err := w1.Beat(ctx, 4, 0, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Beat(ctx, 0, 12*time.Second, now); err != nil {
		t.Fatal(err)
	}
	all, err := s.ReadAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["cmp1"].Seq != 3 || all["cmp1"].Guests != 4 || all["cmp10"].Granted != 12*time.Second {
		t.Fatalf("ReadAll = %+v", all)
	}
	in := Input(all, nil)
	if !in.OK || in.Counters["cmp1"] != 3 || in.Counters["cmp10"] != 1 {
		t.Errorf("Input = %+v", in)
	}
	if b := in.Boots["cmp10"]; b.BootID != "boot-b" || b.Guests != 0 || !b.Gated || in.Boots["cmp1"].Gated || in.Boots["cmp1"].Guests != 4 {
		t.Errorf("Input's boots = %+v: want each record's writer, guests and gate", in.Boots)
	}
	// The agent restarts: its heartbeat moves on from 3, never back.
	w1 = NewWriter(s, "cmp1", "boot-a")
	if err := w1.Beat(ctx, 4, 0, now); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := s.Read(ctx, "cmp1"); err != nil || !ok || b.Seq != 4 {
		t.Errorf("after a restart: %+v %v %v, want seq 4", b, ok, err)
	}
	if _, ok, err := s.Read(ctx, "cmp2"); ok || err != nil {
		t.Errorf("a host that never wrote: ok %v err %v", ok, err)
	}
	if in := Input(nil, fmt.Errorf("down")); in.OK {
		t.Error("a failed read reads OK")
	}
}

func TestDirStore(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	storeContract(t, d)
	// A torn or foreign file fails the whole read: no half picture.
	if err := os.WriteFile(filepath.Join(d.Path, "cmp3.beat"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAll(context.Background()); err == nil {
		t.Error("ReadAll over a torn file: nil error")
	}
	if err := d.Write(context.Background(), Beat{Host: "../etc"}); err == nil {
		t.Error("a host name with a path in it was written")
	}
}

// Reading 10,000 hosts' heartbeats from a directory: the controller's
// whole pass, once a second at default settings.
// go test -run '^$' -bench Dir ./internal/heartbeat/
func BenchmarkDirReadAll10000(b *testing.B) {
	d := Dir{Path: b.TempDir()}
	now := time.Now()
	for i := range 10000 {
		if err := d.Write(context.Background(), Beat{Host: fmt.Sprintf("cmp%05d", i), BootID: "b", Seq: 1, At: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		all, err := d.ReadAll(context.Background())
		if err != nil || len(all) != 10000 {
			b.Fatal(len(all), err)
		}
	}
}
