package ceph

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// SkipMessage is what a test says when integration tests are not enabled.
const SkipMessage = "integration test: set VIGIL_INTEGRATION=1 to run it against a real Ceph cluster " +
	"(ceph-mon, ceph-mgr, ceph-osd, ceph-common, librbd-dev: scripts/install-deps.sh integration)"

// Shared is one cluster and one writer binary for all the tests of a
// package: started by the first test that asks, stopped by Close from
// TestMain. Set the fields before m.Run.
//
//	var bed = &ceph.Shared{PortBase: 21200}
//
//	func TestMain(m *testing.M) {
//		bed.Enabled = os.Getenv("VIGIL_INTEGRATION") == "1"
//		bed.RunDir = os.Getenv("VIGIL_RUN")
//		os.Exit(bed.Close(m.Run()))
//	}
type Shared struct {
	// Enabled says integration tests may run. When false, Get skips the
	// test; when true, anything missing (a binary, a port) fails it.
	Enabled bool
	// RunDir is the parent of the runtime directory ("" = os.TempDir()).
	RunDir string
	// PortBase is the cluster's port base; give each package its own.
	PortBase int

	once    sync.Once
	dir     string
	cluster *Cluster
	writer  string
	err     error
}

// Get returns the shared cluster and the path of the rbdwriter binary,
// starting them on first use. It skips t unless Enabled, and fails t if the
// cluster cannot start.
func (s *Shared) Get(t testing.TB) (*Cluster, string) {
	t.Helper()
	if !s.Enabled {
		t.Skip(SkipMessage)
	}
	s.once.Do(s.start)
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.cluster, s.writer
}

func (s *Shared) start() {
	if missing := MissingBinaries(); len(missing) > 0 {
		s.err = fmt.Errorf("VIGIL_INTEGRATION=1 but %s not installed (scripts/install-deps.sh integration)", strings.Join(missing, ", "))
		return
	}
	if s.RunDir != "" {
		if err := os.MkdirAll(s.RunDir, 0o755); err != nil {
			s.err = err
			return
		}
	}
	dir, err := os.MkdirTemp(s.RunDir, "vigil-ceph-")
	if err != nil {
		s.err = err
		return
	}
	s.dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // first writer build compiles go-ceph
	defer cancel()
	cfg := DefaultConfig(dir)
	if s.PortBase != 0 {
		cfg.PortBase = s.PortBase
	}
	s.cluster, s.err = Start(ctx, cfg)
	if s.err != nil {
		return
	}
	s.writer, s.err = BuildWriter(ctx, dir)
}

// Close stops the cluster, if one was started, and returns the exit code
// for os.Exit: code, or 1 if stopping failed. The runtime directory is
// removed when everything passed and kept (and named on stderr) otherwise,
// for its logs.
func (s *Shared) Close(code int) int {
	if s.dir == "" {
		return code
	}
	var err error
	if s.cluster != nil {
		err = s.cluster.Stop()
	}
	if err == nil && code == 0 {
		err = os.RemoveAll(s.dir)
	}
	if err != nil || code != 0 {
		fmt.Fprintf(os.Stderr, "ceph testbed: runtime directory kept: %s\n", s.dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, errors.Join(errors.New("ceph testbed: close"), err))
		return 1
	}
	return code
}
