package probe

import (
	"fmt"
	"os"
	"strings"
)

// BootIDPath is where Linux keeps the boot id: a random UUID chosen anew at
// every boot, so a host whose boot id changed has rebooted (fence.Release
// relies on that).
const BootIDPath = "/proc/sys/kernel/random/boot_id"

// ReadBootID reads the boot id from path (BootIDPath on a host).
func ReadBootID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("probe: boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if !isUUID(id) {
		return "", fmt.Errorf("probe: boot id in %s is %q, not a UUID", path, id)
	}
	return id, nil
}

// isUUID tells whether s is a UUID in its canonical text form
// (8-4-4-4-12 hex digits, either case).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
