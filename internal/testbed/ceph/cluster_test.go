package ceph

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bed is this package's cluster, on the default port base (41000); the
// cephbl tests use 41200 so both packages can be tested at once.
var bed = &Shared{PortBase: DefaultPortBase}

func TestMain(m *testing.M) {
	bed.Enabled = os.Getenv("VIGIL_INTEGRATION") == "1"
	bed.RunDir = os.Getenv("VIGIL_RUN")
	os.Exit(bed.Close(m.Run()))
}

func TestClusterIsUsable(t *testing.T) {
	c, _ := bed.Get(t)
	t.Logf("startup: mon %v, osd %v, usable %v", c.Timings().MonUp, c.Timings().OSDUp, c.Timings().Usable)
	ctx := t.Context()
	if err := c.CreateImage(ctx, "rbd", "usable", 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := c.RBD(ctx, "info", "rbd/usable")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "exclusive-lock") {
		t.Errorf("image lacks exclusive-lock:\n%s", out)
	}
	if err := c.CreateImage(ctx, "rbd", "usable", 64<<20); err == nil {
		t.Error("creating the same image twice succeeded")
	}
}

func TestStartRefusesTakenPorts(t *testing.T) {
	c, _ := bed.Get(t)
	cfg := DefaultConfig(t.TempDir())
	cfg.PortBase = c.cfg.PortBase
	if _, err := Start(t.Context(), cfg); err == nil {
		t.Fatal("a second cluster started on the same port base")
	}
}

func TestWriterHoldsLockAgainstOthers(t *testing.T) {
	c, bin := bed.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.CreateImage(ctx, "rbd", "held", 64<<20); err != nil {
		t.Fatal(err)
	}
	cfg := c.WriterConfig(bin, "held", "holder")
	cfg.SourceIP = netip.MustParseAddr("127.0.0.2")
	holder := startWriter(ctx, t, cfg)
	if err := holder.WaitWrites(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if addr := holder.Addr(); !strings.HasPrefix(addr, "127.0.0.2:") {
		t.Errorf("holder's client address = %q, want it from 127.0.0.2", addr)
	}

	other := c.WriterConfig(bin, "held", "other")
	other.AcquireTimeout = time.Second
	_, err := StartLockedWriter(ctx, other)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("second writer while the holder lives: %v, want EROFS", err)
	}
}

func TestBlocklistedWriterFailsWithESHUTDOWN(t *testing.T) {
	c, bin := bed.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.CreateImage(ctx, "rbd", "fenced", 64<<20); err != nil {
		t.Fatal(err)
	}
	w := startWriter(ctx, t, c.WriterConfig(bin, "fenced", "victim"))
	if err := w.WaitWrites(ctx, 2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Ceph(ctx, "osd", "blocklist", "add", w.Addr(), "600"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Ceph(context.Background(), "osd", "blocklist", "rm", w.Addr()) })
	failed, err := w.WaitFailedWrite(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if failed.Errno != int(syscall.ESHUTDOWN) {
		t.Errorf("failed write errno = %d (%s), want %d (ESHUTDOWN)", failed.Errno, failed.Err, syscall.ESHUTDOWN)
	}
	// A crash keeps the lock and the watch; a new writer still gets the
	// lock at once because the holder is blocklisted.
	w.Kill()
	next := startWriter(ctx, t, c.WriterConfig(bin, "fenced", "successor"))
	if err := next.WaitWrites(ctx, 2); err != nil {
		t.Fatal(err)
	}
}

// startWriter starts a writer that holds the lock, and stops it at the end
// of the test.
func startWriter(ctx context.Context, t *testing.T, cfg WriterConfig) *Writer {
	t.Helper()
	w, err := StartLockedWriter(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			t.Error(err)
		}
	})
	return w
}
