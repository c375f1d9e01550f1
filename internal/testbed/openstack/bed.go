package openstack

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

//go:embed controlplane.sh
var controlplaneSh []byte

//go:embed fake_neutron.py
var fakeNeutronPy []byte

//go:embed bootstrap_catalog.py
var bootstrapCatalogPy []byte

// bedEnv is set in the environment of every process the bed starts, to the
// bed's directory: Stop signals a pid only when its environment says so.
const bedEnv = "VIGIL_OPENSTACK_BED"

// Bed is a running single-machine OpenStack. Close releases it for other
// processes and leaves it running; Stop ends it.
type Bed struct {
	cfg  Config
	lock *os.File // flock'ed while this process uses the bed

	// mu guards the fields below.
	mu     sync.Mutex
	refs   int                      // Start calls not yet matched by Close or Stop
	hosts  map[string]ComputeConfig // nova-compute hosts started through this Bed
	client *gophercloud.ProviderClient
}

// open beds of this process by directory: a second Start shares the first's
// Bed instead of waiting for its own lock.
var (
	openMu sync.Mutex
	open   = map[string]*Bed{}
)

// Start brings the control plane up, or reuses the one running under
// cfg.Dir, and seeds the flavor, the image and unlimited quota. Another
// process using the bed makes Start wait (up to StartTimeout) until that
// process closes it. Start's output and every service's log are under
// cfg.Dir/logs.
func Start(ctx context.Context, cfg Config) (*Bed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if b := open[cfg.Dir]; b != nil {
		if b.cfg.settings() != cfg.settings() {
			return nil, fmt.Errorf("openstack testbed: %s is open in this process with other settings", cfg.Dir)
		}
		b.mu.Lock()
		b.refs++
		b.mu.Unlock()
		return b, nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "pids"), 0o755); err != nil {
		return nil, fmt.Errorf("openstack testbed: %w", err)
	}
	lock, err := lockFile(ctx, filepath.Join(cfg.Dir, "bed.lock"))
	if err != nil {
		return nil, err
	}
	b := &Bed{cfg: cfg, lock: lock, refs: 1, hosts: map[string]ComputeConfig{}}
	if err := b.start(ctx); err != nil {
		return nil, errors.Join(err, b.release())
	}
	open[cfg.Dir] = b
	return b, nil
}

// lockFile takes an exclusive flock on path, polling so that ctx bounds the wait.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("openstack testbed: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("openstack testbed: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("openstack testbed: %s is held by another process: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (b *Bed) start(ctx context.Context) error {
	dir := b.cfg.Dir
	settingsFile := filepath.Join(dir, "settings")
	if old, err := os.ReadFile(settingsFile); err == nil && string(old) != b.cfg.settings() && len(b.running()) > 0 {
		if err := b.stopAll(); err != nil { // running with other timings: restart
			return err
		}
	}
	if err := os.WriteFile(settingsFile, []byte(b.cfg.settings()), 0o644); err != nil {
		return fmt.Errorf("openstack testbed: %w", err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("openstack testbed: %w", err)
	}
	for name, data := range map[string][]byte{"controlplane.sh": controlplaneSh, "fake_neutron.py": fakeNeutronPy, "bootstrap_catalog.py": bootstrapCatalogPy} {
		if err := os.WriteFile(filepath.Join(bin, name), data, 0o755); err != nil {
			return fmt.Errorf("openstack testbed: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("openstack testbed: %w", err)
	}
	logPath := filepath.Join(dir, "logs", "controlplane.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("openstack testbed: %w", err)
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "/bin/bash", filepath.Join(bin, "controlplane.sh"))
	cmd.Env = append(b.env(),
		"ST="+dir,
		"TEMPLATES="+b.cfg.Templates,
		"REPORT_INTERVAL="+strconv.Itoa(int(b.cfg.ReportInterval/time.Second)),
		"SERVICE_DOWN_TIME="+strconv.Itoa(int(b.cfg.ServiceDownTime/time.Second)))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = time.Second // its daemons keep no pipe of ours, but be sure
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("openstack testbed: controlplane.sh: %w (scripts/install-deps.sh openstack installs the packages)\n%s", err, tail(logPath, 20))
	}
	if err := b.writeClientFiles(); err != nil {
		return err
	}
	return b.seed(ctx)
}

// env is the environment of every process the bed starts.
func (b *Bed) env() []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + b.cfg.Dir, "LANG=C.UTF-8", bedEnv + "=" + b.cfg.Dir}
}

// Dir is the bed's runtime directory.
func (b *Bed) Dir() string { return b.cfg.Dir }

// Config is the configuration the bed runs with.
func (b *Bed) Config() Config { return b.cfg }

// LogPath is the log of a service ("nova-api", "nova-compute-cmp1", …).
func (b *Bed) LogPath(service string) string {
	return filepath.Join(b.cfg.Dir, "logs", service+".log")
}

// Close gives the bed back: once every Start of this process is closed,
// another process may use it. The services keep running for the next Start.
func (b *Bed) Close() error {
	openMu.Lock()
	defer openMu.Unlock()
	b.mu.Lock()
	b.refs--
	last := b.refs <= 0
	b.mu.Unlock()
	if !last {
		return nil
	}
	delete(open, b.cfg.Dir)
	return b.release()
}

func (b *Bed) release() error {
	if b.lock == nil {
		return nil
	}
	err := b.lock.Close() // drops the flock
	b.lock = nil
	return err
}

// Stop ends every process of the bed (the control plane, the compute hosts,
// the relays), keeps its files (logs, databases: the next Start is faster)
// and releases it. It returns an error if a process outlived SIGKILL.
func (b *Bed) Stop() error {
	openMu.Lock()
	defer openMu.Unlock()
	err := b.stopAll()
	delete(open, b.cfg.Dir)
	b.mu.Lock()
	b.refs = 0
	b.mu.Unlock()
	return errors.Join(err, b.release())
}

// stopAll signals the process group of every pid file that is ours: SIGTERM,
// then SIGKILL after StopTimeout. RabbitMQ and epmd go last.
func (b *Bed) stopAll() error {
	procs := b.running()
	order := func(name string) int {
		switch name {
		case "rabbitmq":
			return 1
		case "epmd":
			return 2
		}
		return 0
	}
	slices.SortStableFunc(procs, func(x, y proc) int { return order(x.name) - order(y.name) })
	for _, p := range procs {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(b.cfg.StopTimeout)
	var errs []error
	for _, p := range procs {
		if !b.waitGone(p.pid, time.Until(deadline)) {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			if !b.waitGone(p.pid, 5*time.Second) {
				errs = append(errs, fmt.Errorf("openstack testbed: %s (pid %d) outlived SIGKILL", p.name, p.pid))
				continue
			}
		}
		_ = os.Remove(p.file)
	}
	return errors.Join(errs...)
}

// proc is a process named by a pid file.
type proc struct {
	name, file string
	pid        int
}

// running lists the pid files whose process group still has a process of ours.
func (b *Bed) running() []proc {
	files, _ := filepath.Glob(filepath.Join(b.cfg.Dir, "pids", "*.pid"))
	var out []proc
	for _, f := range files {
		data, err := os.ReadFile(f)
		pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || perr != nil || pid <= 1 {
			continue
		}
		if b.groupAlive(pid) {
			out = append(out, proc{name: strings.TrimSuffix(filepath.Base(f), ".pid"), file: f, pid: pid})
		}
	}
	return out
}

// isOurs tells whether pid is alive and was started by this bed: its
// environment names the bed's directory. A stale pid file must never make
// Stop signal a stranger that reused the pid.
func (b *Bed) isOurs(pid int) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return false // exited, waiting to be reaped
		}
	}
	return slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool { return string(kv) == bedEnv+"="+b.cfg.Dir })
}

// groupAlive tells whether any live process of ours is in process group pgid.
func (b *Bed) groupAlive(pgid int) bool {
	if b.isOurs(pgid) {
		return true
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && b.isOurs(pid) {
			return true
		}
	}
	return false
}

func (b *Bed) waitGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for b.groupAlive(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // polling another process's exit: nothing to wait on
	}
	return true
}

// tail returns the last n lines of a file, for errors.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + path + " (last lines)\n" + string(bytes.Join(lines, []byte("\n")))
}
