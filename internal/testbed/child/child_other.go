//go:build !linux

package child

import (
	"os/exec"
	"syscall"
)

// Start starts cmd in its own process group. Only Linux can tie a
// child's life to its parent; elsewhere a crashed test may leave daemons
// behind (vigil's test bed is Linux).
func Start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}
