//go:build !pacific

package cephbl

import (
	"os"
	"testing"
)

// Without the pacific tag the driver itself is not built, so its
// integration tests cannot run; say so rather than pass silently.
func TestIntegrationNeedsPacificTag(t *testing.T) {
	if os.Getenv("VIGIL_INTEGRATION") == "1" {
		t.Skip("VIGIL_INTEGRATION=1, but cephbl's integration tests need go test -tags pacific (cgo, librados-dev, librbd-dev)")
	}
	t.Skip("integration tests: go test -tags pacific with VIGIL_INTEGRATION=1")
}
