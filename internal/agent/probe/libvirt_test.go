package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDialLibvirtErrors runs go-libvirt against sockets that are not a
// working libvirtd: none at all, and one that accepts and never answers (a
// hung libvirtd). Each must fail within the deadline, naming the socket.
func TestDialLibvirtErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultLibvirtConfig()
	cfg.Socket = filepath.Join(dir, "missing-sock")
	_, err := dialLibvirt(cfg)(context.Background())
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), cfg.Socket) {
		t.Fatalf("no socket: %v, want ENOENT naming %s", err, cfg.Socket)
	}

	cfg.Socket = filepath.Join(dir, "hung-sock")
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // read nothing, answer nothing
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = dialLibvirt(cfg)(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), cfg.Socket) {
		t.Fatalf("hung libvirtd: %v, want the deadline, naming %s", err, cfg.Socket)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("hung libvirtd: gave up after %v, want about the 200 ms deadline", d)
	}
}
