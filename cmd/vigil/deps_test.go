package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDoesNotImportTestHarness fails when the vigil binary starts to
// depend on a package that exists only for tests (a Redfish BMC that lies on
// purpose has no place in production), in the spirit of tailscale's deptest.
func TestBinaryDoesNotImportTestHarness(t *testing.T) {
	for _, tags := range []string{"", "pacific"} {
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", ".").Output()
		if err != nil {
			t.Fatalf("go list -deps (tags %q): %v", tags, err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if strings.Contains(pkg, "/internal/testbed") || strings.HasSuffix(pkg, "/fencetest") || strings.HasSuffix(pkg, "/apitest") || strings.HasSuffix(pkg, "/testing/synctest") {
				t.Errorf("tags %q: vigil imports %s", tags, pkg)
			}
		}
	}
}
