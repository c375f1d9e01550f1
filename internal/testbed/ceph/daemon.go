package ceph

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/child"
)

// proc is a daemon we started in the foreground (-f).
type proc struct {
	name string        // "mon.a"
	cmd  *exec.Cmd     //
	done chan struct{} // closed when the process has exited and been reaped
}

func (p *proc) hasExited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startDaemon starts a ceph daemon in the foreground with our ceph.conf; its
// stdout and stderr go to log/NAME.out. A goroutine reaps it; it ends when
// the daemon exits.
func (c *Cluster) startDaemon(name, bin string, args ...string) error {
	out, err := os.Create(filepath.Join(c.cfg.Dir, "log", name+".out"))
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, append([]string{"--conf", c.conf, "-f"}, args...)...)
	cmd.Env = clientEnv(c.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := child.Start(cmd); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // a daemon stopped by a signal "fails"; the log tells why
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return nil
}

// exited names a daemon that has already exited, or returns "".
func (c *Cluster) exited() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.hasExited() {
			return p.name
		}
	}
	return ""
}

// logTail returns the last lines of a daemon's output and log, for errors.
func (c *Cluster) logTail(name string) string {
	var b strings.Builder
	for _, f := range []string{name + ".out", name + ".log"} {
		data, err := os.ReadFile(filepath.Join(c.cfg.Dir, "log", f))
		if err != nil || len(data) == 0 {
			continue
		}
		lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", f, len(lines), bytes.Join(lines, []byte("\n")))
	}
	return b.String()
}

// Stop stops the daemons: SIGTERM to every pid in run/*.pid that is one of
// ours (our child, or a process whose command line names our ceph.conf) and
// to our children, SIGKILL to whatever is left after StopTimeout. It leaves
// Dir in place (t.TempDir removes it; logs stay for a failed run). Stop is
// safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	pids := c.ourPids(procs)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM) // already gone is fine
	}
	deadline := time.Now().Add(c.cfg.StopTimeout)
	var errs []error
	for _, p := range procs {
		if waitDone(p.done, time.Until(deadline)) {
			continue
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		errs = append(errs, fmt.Errorf("ceph testbed: %s ignored SIGTERM for %v, killed", p.name, c.cfg.StopTimeout))
	}
	for _, pid := range pids {
		if alive(pid) && c.isOurs(pid, procs) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("ceph testbed: pid %d outlived Stop, killed", pid))
		}
	}
	return errors.Join(errs...)
}

// ourPids returns the pids from run/*.pid that belong to this cluster, plus
// our children's.
func (c *Cluster) ourPids(procs []*proc) []int {
	seen := map[int]bool{}
	var pids []int
	add := func(pid int) {
		if pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	files, _ := filepath.Glob(filepath.Join(c.cfg.Dir, "run", "*.pid"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && c.isOurs(pid, procs) {
			add(pid)
		}
	}
	for _, p := range procs {
		if !p.hasExited() {
			add(p.cmd.Process.Pid)
		}
	}
	return pids
}

// isOurs tells whether pid is one of our children or a live process whose
// command line names our ceph.conf: a stale pid file must never make us
// signal a stranger that reused the pid.
func (c *Cluster) isOurs(pid int, procs []*proc) bool {
	for _, p := range procs {
		if p.cmd.Process.Pid == pid {
			return !p.hasExited()
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(cmdline, []byte{0}) {
		if string(arg) == c.conf {
			return true
		}
	}
	return false
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitDone waits up to d for done to close and tells whether it did.
func waitDone(done <-chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
