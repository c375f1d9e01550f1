package probe

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestReadBootID(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		err                 bool
	}{
		{"as the kernel writes it", "5c0a8f1e-3b1d-4f7a-9d2e-0a1b2c3d4e5f\n", "5c0a8f1e-3b1d-4f7a-9d2e-0a1b2c3d4e5f", false},
		{"empty", "", "", true},
		{"not a uuid", "hello\n", "", true},
		{"dashes misplaced", "5c0a8f1e3-b1d-4f7a-9d2e-0a1b2c3d4e5f\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadBootID(p)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ReadBootID = %q, %v; want %q (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := ReadBootID(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: want an error")
	}
}

func TestReadBootIDOfThisHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux keeps the boot id in /proc")
	}
	a, err := ReadBootID(BootIDPath)
	if err != nil {
		t.Fatal(err)
	}
	// Unlike /proc/sys/kernel/random/uuid, it stays the same for the boot.
	if b, _ := ReadBootID(BootIDPath); b != a {
		t.Fatalf("boot id changed within the boot: %s, then %s", a, b)
	}
}
