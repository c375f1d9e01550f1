package ceph

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultPortBase is the mon's v2 port when the caller does not choose one.
// It is away from the shared recipe's 40000, and below Linux's ephemeral
// port range (32768 and up), where any concurrent test's outgoing or
// httptest socket may take a port first.
const DefaultPortBase = 21000

// portSpan is how many ports above the base a cluster uses.
const portSpan = 100

// maxDirLen keeps unix socket paths (DIR/run/client.admin.PID.asok) under
// the kernel's 107-byte limit.
const maxDirLen = 70

// Config describes the cluster to start.
type Config struct {
	// Dir is the runtime directory: ceph.conf, keyrings, daemon data, logs,
	// pid files and admin sockets go there. It must be absolute, short (unix
	// sockets live in it) and outside any Go module checkout: use
	// t.TempDir() or a directory under $VIGIL_RUN.
	Dir string
	// PortBase is the mon's msgr2 port; the cluster uses PortBase..PortBase+100.
	PortBase int
	// ObjectStore is the OSD backend: "memstore" (RAM, fastest) or "bluestore"
	// (on a 2 GiB file in Dir).
	ObjectStore string
	// StartTimeout bounds the whole startup, from keys to pool active+clean.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
	StopTimeout time.Duration
	// ExtraConf is appended to the generated ceph.conf: sections and
	// options a test needs, e.g. "[osd]\nms inject delay type = mon" to make
	// the OSD learn new osdmaps late.
	ExtraConf string
}

// DefaultConfig returns a memstore cluster on DefaultPortBase in dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:          dir,
		PortBase:     DefaultPortBase,
		ObjectStore:  "memstore",
		StartTimeout: 3 * time.Minute,  // 12–15 s on an idle 2-core box, 50 s seen under load
		StopTimeout:  10 * time.Second, // daemons stop in < 1 s on SIGTERM
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("ceph testbed: Dir is empty")
	case !filepath.IsAbs(c.Dir):
		return fmt.Errorf("ceph testbed: Dir %q is not absolute", c.Dir)
	case len(c.Dir) > maxDirLen:
		return fmt.Errorf("ceph testbed: Dir %q is longer than %d bytes (admin sockets live in it)", c.Dir, maxDirLen)
	case c.PortBase < 1024 || c.PortBase+portSpan > 65535:
		return fmt.Errorf("ceph testbed: PortBase %d outside 1024..%d", c.PortBase, 65535-portSpan)
	case c.ObjectStore != "memstore" && c.ObjectStore != "bluestore":
		return fmt.Errorf("ceph testbed: ObjectStore %q is neither memstore nor bluestore", c.ObjectStore)
	case c.StartTimeout <= 0:
		return errors.New("ceph testbed: StartTimeout must be positive")
	case c.StopTimeout <= 0:
		return errors.New("ceph testbed: StopTimeout must be positive")
	}
	if mod := enclosingModule(c.Dir); mod != "" {
		return fmt.Errorf("ceph testbed: Dir %q is inside the Go module at %s; use t.TempDir() or $VIGIL_RUN", c.Dir, mod)
	}
	return nil
}

// enclosingModule returns the directory of the nearest go.mod at or above
// dir, or "" if there is none.
func enclosingModule(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}
