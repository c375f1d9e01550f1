// Package vigilbin builds the vigil binary of this tree once per test
// process, for tests that run vigil as its own processes (agents and
// controllers to kill, stop and restart as a real deployment's would be).
package vigilbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
	out  []byte
)

// Path returns the built binary, building it at the first call. The
// binary lives in a directory of its own that outlives the test (each test
// process builds its own).
func Path(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		var dir string
		dir, err = os.MkdirTemp("", "vigilbin-")
		if err != nil {
			return
		}
		path = filepath.Join(dir, "vigil")
		goBin, lerr := exec.LookPath("go")
		if lerr != nil {
			goBin = "/usr/local/go/bin/go" // where make deps puts it
		}
		out, err = exec.Command(goBin, "build", "-o", path, "github.com/vigil-ha/vigil/cmd/vigil").CombinedOutput()
	})
	if err != nil {
		t.Fatalf("go build vigil: %v\n%s", err, out)
	}
	return path
}

// Remove deletes the built binary's directory: call it from TestMain after
// m.Run.
func Remove() {
	if path != "" {
		_ = os.RemoveAll(filepath.Dir(path))
	}
}
