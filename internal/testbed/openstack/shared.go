package openstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Shared is one bed for all the tests of a package: started by the first
// test that asks, stopped (or, with Keep, only released) by Close from
// TestMain. Set the fields before m.Run.
//
//	var bed = &openstack.Shared{}
//
//	func TestMain(m *testing.M) {
//		bed.Enabled = tier.Enabled() && os.Getenv("VIGIL_OPENSTACK") == "1"
//		bed.RunDir = os.Getenv("VIGIL_RUN")
//		bed.Keep = os.Getenv("VIGIL_OPENSTACK_KEEP") == "1"
//		os.Exit(bed.Close(m.Run()))
//	}
type Shared struct {
	// Enabled says the OpenStack tests may run; when false Get skips.
	Enabled bool
	// RunDir is the parent of the bed's directory ("" = /tmp/vigil-run).
	RunDir string
	// Keep leaves the bed running after Close, for the next test run.
	Keep bool

	once sync.Once
	bed  *Bed
	err  error
}

// SkipMessage is what a test says when the OpenStack tests are not enabled.
const SkipMessage = "OpenStack integration test: run as root with VIGIL_INTEGRATION=1 VIGIL_OPENSTACK=1 " +
	"(packages: scripts/install-deps.sh openstack)"

// Get returns the shared bed, starting it on first use. It skips t unless
// Enabled and fails t if the bed cannot start.
func (s *Shared) Get(t testing.TB) *Bed {
	t.Helper()
	if !s.Enabled {
		t.Skip(SkipMessage)
	}
	s.once.Do(func() {
		if os.Geteuid() != 0 {
			s.err = fmt.Errorf("%s: not root", SkipMessage)
			return
		}
		t0 := time.Now()
		s.bed, s.err = Start(context.Background(), DefaultConfig(s.RunDir))
		if s.err == nil {
			fmt.Fprintf(os.Stderr, "openstack testbed: control plane ready in %.1f s (%s)\n", time.Since(t0).Seconds(), s.bed.Dir())
		}
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.bed
}

// Close stops the bed (or releases it, with Keep) if one was started, and
// returns the exit code for os.Exit: code, or 1 if stopping failed. When a
// test failed, it names the logs' directory on stderr.
func (s *Shared) Close(code int) int {
	if s.bed == nil {
		return code
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "openstack testbed: logs in %s\n", filepath.Join(s.bed.Dir(), "logs"))
	}
	var err error
	if s.Keep {
		err = s.bed.Close()
		fmt.Fprintf(os.Stderr, "openstack testbed: left running (VIGIL_OPENSTACK_KEEP=1) in %s; %s\n",
			s.bed.Dir(), strings.Join(Env(), " "))
	} else {
		err = s.bed.Stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}
