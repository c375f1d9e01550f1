package child

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Start starts cmd so that it dies with the test process: SIGKILL when its
// parent thread exits, so a crashed or timed-out test leaves no daemon holding
// ports, sockets or mounts. It also gets its own process group, away from the
// terminal's Ctrl-C. Other SysProcAttr fields the caller set (Credential) are
// kept.
//
// Pdeathsig fires when the parent *thread* exits, and Go ends a thread when a
// goroutine locked to it returns (netns code does that after setns). So every
// child is forked from one goroutine locked to its own thread for the life of
// the process; that goroutine is never asked to stop.
func Start(cmd *exec.Cmd) error {
	spawnOnce.Do(func() { go spawnLoop() })
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan<- error
}

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

func spawnLoop() {
	runtime.LockOSThread() // never unlocked: this thread must outlive every child
	for r := range spawnReqs {
		r.done <- r.cmd.Start()
	}
}
