package libvirtd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/child"
)

// Config describes the daemon to start.
type Config struct {
	// Parent is where the daemon's own directory is made ("" for the
	// system's temporary directory; $VIGIL_RUN under make integration).
	// User nobody must be able to enter it, and it must be short: QEMU's
	// monitor sockets live below it.
	Parent string
	// StartTimeout bounds a start, until the socket accepts connections.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// QEMUHook, if set, is the script libvirtd runs as its qemu hook
	// (/etc/libvirt/hooks/qemu): libvirtd reads hooks from there only, so
	// the daemon runs in a mount namespace of its own with an overlay on
	// /etc that adds the hook; the machine's /etc is untouched. Needs
	// root.
	QEMUHook string
}

// DefaultConfig starts a daemon under parent.
func DefaultConfig(parent string) Config {
	return Config{
		Parent:       parent,
		StartTimeout: 30 * time.Second, // ready in ~0.1 s on an idle 2-core box
		StopTimeout:  10 * time.Second,
	}
}

// maxParentLen keeps DIR/config/libvirt/qemu/lib/domain-N-NAME/monitor.sock
// under the 107 bytes of a unix socket path for short domain names.
const maxParentLen = 40

// Daemon is a running session libvirtd.
type Daemon struct {
	cfg  Config
	dir  string
	cred *syscall.Credential // nil: run as the test's own user
	cmd  *exec.Cmd
	done chan struct{} // closed when the current libvirtd has exited and been reaped
}

// Start makes the daemon's directory and starts libvirtd in it.
func Start(cfg Config) (*Daemon, error) {
	if cfg.Parent == "" {
		cfg.Parent = os.TempDir()
	}
	switch {
	case !filepath.IsAbs(cfg.Parent) || len(cfg.Parent) > maxParentLen:
		return nil, fmt.Errorf("libvirtd testbed: Parent %q: want an absolute path of at most %d bytes", cfg.Parent, maxParentLen)
	case cfg.StartTimeout <= 0 || cfg.StopTimeout <= 0:
		return nil, errors.New("libvirtd testbed: StartTimeout and StopTimeout must be positive")
	}
	d := &Daemon{cfg: cfg}
	if os.Geteuid() == 0 {
		// As root libvirtd would be the system daemon, with global state.
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("libvirtd testbed: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		d.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	if err := os.MkdirAll(cfg.Parent, 0o755); err != nil {
		return nil, fmt.Errorf("libvirtd testbed: %w", err)
	}
	dir, err := os.MkdirTemp(cfg.Parent, "lvd-")
	if err != nil {
		return nil, fmt.Errorf("libvirtd testbed: %w", err)
	}
	d.dir = dir
	for _, sub := range []string{"run", "config", "cache", "home"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
	}
	conf := fmt.Sprintf("unix_sock_dir = %q\n", filepath.Join(dir, "run"))
	if err := os.WriteFile(d.confPath(), []byte(conf), 0o644); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if d.cred != nil {
		if err := chownTree(dir, int(d.cred.Uid), int(d.cred.Gid)); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
	}
	if err := d.start(); err != nil {
		return nil, errors.Join(err, d.Stop())
	}
	return d, nil
}

func (d *Daemon) confPath() string { return filepath.Join(d.dir, "libvirtd.conf") }

// Socket is the daemon's RPC socket (virsh -c 'test:///default?socket=…').
func (d *Daemon) Socket() string { return filepath.Join(d.dir, "run", "libvirt-sock") }

// Dir is the daemon's runtime directory.
func (d *Daemon) Dir() string { return d.dir }

// Pid is the running libvirtd's pid.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

func (d *Daemon) start() error {
	log, err := os.OpenFile(filepath.Join(d.dir, "libvirtd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command("libvirtd", "--config", d.confPath())
	if d.cfg.QEMUHook != "" {
		if d.cred == nil {
			return errors.New("libvirtd testbed: QEMUHook needs root (a mount namespace with an overlay on /etc)")
		}
		upper, work := filepath.Join(d.dir, "etc-upper"), filepath.Join(d.dir, "etc-work")
		hooks := filepath.Join(upper, "libvirt", "hooks")
		if err := os.MkdirAll(hooks, 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(work, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(hooks, "qemu"), []byte(d.cfg.QEMUHook), 0o755); err != nil {
			return err
		}
		for _, p := range []string{filepath.Join(upper, "libvirt"), hooks} {
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
		}
		script := `mount -t overlay overlay -o lowerdir=/etc,upperdir="$1",workdir="$2" /etc && exec setpriv --reuid="$3" --regid="$4" --clear-groups libvirtd --config "$5"`
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
			upper, work, strconv.Itoa(int(d.cred.Uid)), strconv.Itoa(int(d.cred.Gid)), d.confPath())
	}
	cmd.Dir = d.dir
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + filepath.Join(d.dir, "home"),
		"XDG_RUNTIME_DIR=" + filepath.Join(d.dir, "run"),
		"XDG_CONFIG_HOME=" + filepath.Join(d.dir, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(d.dir, "cache"),
	}
	cmd.Stdout, cmd.Stderr = log, log
	if d.cred != nil && d.cfg.QEMUHook == "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.cred}
	}
	if err := child.Start(cmd); err != nil {
		return fmt.Errorf("libvirtd testbed: start libvirtd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	d.cmd, d.done = cmd, done
	return d.waitReady()
}

func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(d.cfg.StartTimeout)
	for {
		c, err := net.DialTimeout("unix", d.Socket(), time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-d.done:
			return fmt.Errorf("libvirtd testbed: libvirtd exited during start: %v\n%s", d.cmd.ProcessState, d.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("libvirtd testbed: %s not accepting within %v: %w\n%s", d.Socket(), d.cfg.StartTimeout, err, d.LogTail())
		}
		time.Sleep(20 * time.Millisecond) // polling a starting daemon: nothing to wait on
	}
}

// Restart stops libvirtd with sig (SIGTERM: an operator's restart;
// SIGKILL: a crash) and starts it again on the same directory. Running QEMU
// guests survive it, as they do a system libvirtd's restart.
func (d *Daemon) Restart(sig syscall.Signal) error {
	if err := d.stopDaemon(sig); err != nil {
		return err
	}
	return d.start()
}

// stopDaemon signals the current libvirtd and waits for it to exit.
func (d *Daemon) stopDaemon(sig syscall.Signal) error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(sig) // already gone is fine
	select {
	case <-d.done:
		return nil
	case <-time.After(d.cfg.StopTimeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("libvirtd testbed: libvirtd ignored %v for %v, killed", sig, d.cfg.StopTimeout)
	}
}

// Stop stops libvirtd, kills what it started (QEMU guests, virtlogd) and
// removes the directory. It is safe to call twice.
func (d *Daemon) Stop() error {
	err := d.stopDaemon(syscall.SIGTERM)
	for _, pid := range processesNaming(d.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if d.dir != "" {
		err = errors.Join(err, os.RemoveAll(d.dir))
	}
	return err
}

// LogTail returns the last lines of libvirtd's output, for errors.
func (d *Daemon) LogTail() string {
	data, err := os.ReadFile(filepath.Join(d.dir, "libvirtd.log"))
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "--- libvirtd.log (last lines)\n" + string(bytes.Join(lines, []byte("\n")))
}

// processesNaming returns the pids whose command line or environment names
// dir: QEMU (its monitor socket is below dir, its XDG directories too) and
// the virtlogd a session libvirtd starts.
func processesNaming(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, []byte(dir+"/")) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
