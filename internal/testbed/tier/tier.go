package tier

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Root is a need meaning "runs as root" (network namespaces, ipmi_sim).
const Root = "root"

// Enabled reports whether the integration tier was asked for.
func Enabled() bool { return os.Getenv("VIGIL_INTEGRATION") == "1" }

// Integration skips tb unless the integration tier is enabled; then every
// need (Root, or a program looked up in PATH) must be met or tb fails.
func Integration(tb testing.TB, needs ...string) {
	tb.Helper()
	if !Enabled() {
		tb.Skip("integration test: run as root with VIGIL_INTEGRATION=1 (make integration; packages from scripts/install-deps.sh integration)")
	}
	for _, n := range needs {
		if n == Root {
			if os.Geteuid() != 0 {
				tb.Fatal("VIGIL_INTEGRATION=1 needs root (network namespaces, BMC simulators)")
			}
			continue
		}
		if _, err := exec.LookPath(n); err != nil {
			tb.Fatalf("VIGIL_INTEGRATION=1 but %s is missing (scripts/install-deps.sh integration): %v", n, err)
		}
	}
}

// Eventually calls check until it returns nil, failing tb with what and the
// last error when timeout passes first.
func Eventually(tb testing.TB, timeout time.Duration, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		<-tick.C
	}
}
