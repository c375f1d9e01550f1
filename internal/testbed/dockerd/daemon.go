package dockerd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/internal/testbed/child"
)

// Config describes the engine to start.
type Config struct {
	// Parent is where the engine's own directory is made ("" for the
	// system's temporary directory; $VIGIL_RUN under make integration). It
	// must be short: containerd's sockets live below it.
	Parent string
	// StartTimeout bounds the start, until the API answers a ping.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
}

// DefaultConfig starts an engine under parent.
func DefaultConfig(parent string) Config {
	return Config{
		Parent:       parent,
		StartTimeout: 60 * time.Second, // ready in ~0.5 s on an idle 2-core box
		StopTimeout:  20 * time.Second, // Stop removes the containers first; then < 1 s
	}
}

// maxParentLen keeps DIR/exec/containerd/containerd.sock under the 107
// bytes of a unix socket path.
const maxParentLen = 50

// Daemon is a running dockerd.
type Daemon struct {
	cfg  Config
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when dockerd has exited and been reaped
	cli  *client.Client
}

// Start starts dockerd and waits until its API answers.
func Start(cfg Config) (*Daemon, error) {
	if cfg.Parent == "" {
		cfg.Parent = os.TempDir()
	}
	switch {
	case !filepath.IsAbs(cfg.Parent) || len(cfg.Parent) > maxParentLen:
		return nil, fmt.Errorf("dockerd testbed: Parent %q: want an absolute path of at most %d bytes", cfg.Parent, maxParentLen)
	case cfg.StartTimeout <= 0 || cfg.StopTimeout <= 0:
		return nil, errors.New("dockerd testbed: StartTimeout and StopTimeout must be positive")
	}
	if err := os.MkdirAll(cfg.Parent, 0o755); err != nil {
		return nil, fmt.Errorf("dockerd testbed: %w", err)
	}
	dir, err := os.MkdirTemp(cfg.Parent, "dockerd-")
	if err != nil {
		return nil, fmt.Errorf("dockerd testbed: %w", err)
	}
	d := &Daemon{cfg: cfg, dir: dir, done: make(chan struct{})}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	d.cmd = exec.Command("dockerd",
		"--host", d.Host(),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--iptables=false", "--ip6tables=false", "--bridge=none",
		"--config-file", writeEmptyConfig(dir), // never /etc/docker/daemon.json
	)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := child.Start(d.cmd); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dockerd testbed: start dockerd: %w", err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	if d.cli, err = client.New(client.WithHost(d.Host())); err != nil {
		return nil, errors.Join(err, d.Stop())
	}
	if err := d.waitReady(); err != nil {
		return nil, errors.Join(err, d.Stop())
	}
	return d, nil
}

func writeEmptyConfig(dir string) string {
	p := filepath.Join(dir, "daemon.json")
	_ = os.WriteFile(p, []byte("{}\n"), 0o644) // a missing file fails dockerd's start, which says so
	return p
}

func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(d.cfg.StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("dockerd testbed: dockerd exited during start: %v\n%s", d.cmd.ProcessState, d.LogTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dockerd testbed: API not answering within %v: %w\n%s", d.cfg.StartTimeout, err, d.LogTail())
		}
		time.Sleep(50 * time.Millisecond) // polling a starting daemon: nothing to wait on
	}
}

// Host is the engine's endpoint, as DOCKER_HOST spells it.
func (d *Daemon) Host() string { return "unix://" + filepath.Join(d.dir, "docker.sock") }

// Client is the harness's own API client of the engine.
func (d *Daemon) Client() *client.Client { return d.cli }

// Dir is the engine's runtime directory.
func (d *Daemon) Dir() string { return d.dir }

// LogTail returns the last lines of dockerd's output, for errors.
func (d *Daemon) LogTail() string {
	data, err := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "--- dockerd.log (last lines)\n" + string(bytes.Join(lines, []byte("\n")))
}

// Stop removes every container (so none waits out its stop timeout),
// stops dockerd (SIGTERM, then SIGKILL after StopTimeout), kills what is
// left of its containerd and shims, unmounts what is still mounted below
// its directory and removes the directory. It is safe to call twice.
func (d *Daemon) Stop() error {
	var errs []error
	if d.cli != nil {
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.StopTimeout)
		list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err == nil {
			for _, c := range list.Items {
				if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
					errs = append(errs, err)
				}
			}
		}
		cancel()
		_ = d.cli.Close()
	}
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM) // already gone is fine
		select {
		case <-d.done:
		case <-time.After(d.cfg.StopTimeout):
			_ = d.cmd.Process.Kill()
			<-d.done
			errs = append(errs, fmt.Errorf("dockerd testbed: dockerd ignored SIGTERM for %v, killed", d.cfg.StopTimeout))
		}
	}
	for _, pid := range processesNaming(d.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range mountsBelow(d.dir) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("dockerd testbed: unmount %s: %w", m, err))
		}
	}
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, fmt.Errorf("dockerd testbed: %w", err))
	}
	return errors.Join(errs...)
}

// processesNaming returns the pids whose command line names dir
// (containerd --config DIR/…, containerd-shim … -address DIR/…).
func processesNaming(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsBelow returns the mount points at or below dir, deepest first.
func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := unescapeMount(fields[4])
		if m == dir || strings.HasPrefix(m, dir+"/") {
			mounts = append(mounts, m)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
