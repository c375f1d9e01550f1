package ceph

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/child"
)

// WriterPackage is the import path of the writer program.
const WriterPackage = "github.com/vigil-ha/vigil/internal/testbed/ceph/cmd/rbdwriter"

// BuildWriter builds cmd/rbdwriter with -tags pacific into dir and returns
// the binary's path. It runs `go build` from the working directory, which
// must be inside this module (a test's is). The first build compiles go-ceph
// (about 30 s on 2 cores); later ones come from the build cache.
func BuildWriter(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("ceph testbed: build writer: %w", err)
	}
	out := filepath.Join(dir, "rbdwriter")
	cmd := exec.CommandContext(ctx, goBin, "build", "-tags", "pacific", "-o", out, WriterPackage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("ceph testbed: go build -tags pacific %s: %w\n%s", WriterPackage, err, msg)
	}
	return out, nil
}

// WriterConfig describes one writer process.
type WriterConfig struct {
	Binary   string // from BuildWriter
	ConfPath string // the cluster's ceph.conf
	User     string // cephx user without "client."
	Pool     string
	Image    string
	ID       string // the writer's name in its records and blocks
	// SourceIP is the local IPv4 address its traffic comes from, so that it
	// plays another host on loopback (127.0.0.2, 127.0.0.3, …). Invalid
	// (zero) means the kernel's choice: 127.0.0.1.
	SourceIP netip.Addr
	// Interval is the time between writes, and between lock attempts.
	Interval time.Duration
	// AcquireTimeout is how long it tries to take the exclusive lock
	// before it gives up and exits.
	AcquireTimeout time.Duration
	// LogDir receives the writer's stderr and librados' own log.
	LogDir string
}

// WriterConfig returns the config of a writer of pool rbd on this cluster.
func (c *Cluster) WriterConfig(binary, image, id string) WriterConfig {
	return WriterConfig{
		Binary:         binary,
		ConfPath:       c.conf,
		User:           "admin",
		Pool:           "rbd",
		Image:          image,
		ID:             id,
		Interval:       100 * time.Millisecond, // a failure shows within 0.1 s of a fence
		AcquireTimeout: 15 * time.Second,       // longer than a fence + lock break (< 1 s measured)
		LogDir:         filepath.Join(c.cfg.Dir, "log"),
	}
}

// Validate reports the first problem with c.
func (c WriterConfig) Validate() error {
	switch {
	case c.Binary == "" || c.ConfPath == "" || c.LogDir == "":
		return errors.New("ceph testbed: writer needs Binary, ConfPath and LogDir")
	case c.User == "" || c.Pool == "" || c.Image == "" || c.ID == "":
		return errors.New("ceph testbed: writer needs User, Pool, Image and ID")
	case strings.ContainsAny(c.ID, "/ "):
		return fmt.Errorf("ceph testbed: writer ID %q must not contain '/' or spaces", c.ID)
	case c.SourceIP.IsValid() && !c.SourceIP.Is4():
		return fmt.Errorf("ceph testbed: writer SourceIP %v is not IPv4", c.SourceIP)
	case c.Interval <= 0 || c.AcquireTimeout <= 0:
		return errors.New("ceph testbed: writer Interval and AcquireTimeout must be positive")
	}
	return nil
}

// Writer is a running rbdwriter process and what it has reported so far.
type Writer struct {
	cfg  WriterConfig
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and all its output is read

	// mu guards recs, changed and waitErr.
	mu      sync.Mutex
	recs    []Record
	changed chan struct{} // closed and replaced whenever recs grows
	waitErr error         // from cmd.Wait, set before done is closed
}

// StartWriter starts a writer process. It returns once the process runs;
// use WaitLocked, or StartLockedWriter, to wait for the lock.
func StartWriter(cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	args := []string{
		"-conf", cfg.ConfPath, "-user", cfg.User, "-pool", cfg.Pool, "-image", cfg.Image, "-id", cfg.ID,
		"-interval", cfg.Interval.String(), "-acquire-timeout", cfg.AcquireTimeout.String(),
	}
	if cfg.SourceIP.IsValid() {
		args = append(args, "-source-ip", cfg.SourceIP.String())
	}
	stderr, err := os.Create(filepath.Join(cfg.LogDir, "writer-"+cfg.ID+".err"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close() // the child has its own copy
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Env = clientEnv(cfg.ConfPath)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := child.Start(cmd); err != nil {
		return nil, fmt.Errorf("ceph testbed: start writer %s: %w", cfg.ID, err)
	}
	w := &Writer{cfg: cfg, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	go w.read(bufio.NewScanner(stdout)) // ends when the process exits
	return w, nil
}

// StartLockedWriter starts a writer and waits until it holds the lock; if it
// cannot get it, the writer is stopped and the error says why.
func StartLockedWriter(ctx context.Context, cfg WriterConfig) (*Writer, error) {
	w, err := StartWriter(cfg)
	if err != nil {
		return nil, err
	}
	if err := w.WaitLocked(ctx); err != nil {
		return nil, errors.Join(err, w.Stop())
	}
	return w, nil
}

func (w *Writer) read(sc *bufio.Scanner) {
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			r = Record{Event: "garbage", Writer: w.cfg.ID, Time: time.Now(), Err: sc.Text()}
		}
		w.mu.Lock()
		w.recs = append(w.recs, r)
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
	err := w.cmd.Wait()
	w.mu.Lock()
	w.waitErr = err
	w.mu.Unlock()
	close(w.done)
}

// ID is the writer's id.
func (w *Writer) ID() string { return w.cfg.ID }

// Records returns a copy of everything the writer has reported.
func (w *Writer) Records() []Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Record(nil), w.recs...)
}

// Addr is the writer's Ceph client address ("127.0.0.2:0/123456"), or ""
// before it connected.
func (w *Writer) Addr() string {
	for _, r := range w.Records() {
		if r.Event == EventConnected {
			return r.Addr
		}
	}
	return ""
}

// WaitFor waits until cond holds for the records so far. It fails when ctx
// ends or the writer exits without cond holding.
func (w *Writer) WaitFor(ctx context.Context, what string, cond func([]Record) bool) error {
	for {
		w.mu.Lock()
		ok, changed, n := cond(w.recs), w.changed, len(w.recs)
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
			continue
		case <-w.done:
			w.mu.Lock()
			ok, grew := cond(w.recs), len(w.recs) > n
			w.mu.Unlock()
			if ok {
				return nil
			}
			if grew {
				continue
			}
			return fmt.Errorf("writer %s exited (%v) before %s; last records:\n%s", w.cfg.ID, w.exitErr(), what, w.tail())
		case <-ctx.Done():
			return fmt.Errorf("writer %s: waiting for %s: %w; last records:\n%s", w.cfg.ID, what, ctx.Err(), w.tail())
		}
	}
}

// WaitLocked waits until the writer holds the exclusive lock. If it gives up
// instead, the error wraps the errno of its last attempt (EROFS while another
// live client holds the lock).
func (w *Writer) WaitLocked(ctx context.Context) error {
	var last Record
	err := w.WaitFor(ctx, "the exclusive lock", func(rs []Record) bool {
		for _, r := range rs {
			switch r.Event {
			case EventLocked:
				return true
			case EventLockFailed, EventConnectFailed:
				last = r
			}
		}
		return false
	})
	if err != nil && last.Errno != 0 {
		return fmt.Errorf("%w: last attempt: %w", err, syscall.Errno(last.Errno))
	}
	return err
}

// WaitWrites waits for n successful writes after the call.
func (w *Writer) WaitWrites(ctx context.Context, n int) error {
	from := len(w.Records())
	return w.WaitFor(ctx, fmt.Sprintf("%d successful writes", n), func(rs []Record) bool {
		ok := 0
		for _, r := range rs[from:] {
			if r.Event == EventWrite && r.OK {
				ok++
			}
		}
		return ok >= n
	})
}

// WaitFailedWrite waits for the first failed write that started at or
// after since, and returns it.
func (w *Writer) WaitFailedWrite(ctx context.Context, since time.Time) (Record, error) {
	var failed Record
	err := w.WaitFor(ctx, "a failed write", func(rs []Record) bool {
		for _, r := range rs {
			if r.Event == EventWrite && !r.OK && !r.Time.Before(since) {
				failed = r
				return true
			}
		}
		return false
	})
	return failed, err
}

// Stop asks the writer to stop (SIGTERM: it releases the lock and closes
// the image) and waits; after 10 s it kills it.
func (w *Writer) Stop() error {
	_ = w.cmd.Process.Signal(syscall.SIGTERM) // already exited is fine
	if waitDone(w.done, 10*time.Second) {
		return nil
	}
	_ = w.cmd.Process.Kill()
	<-w.done
	return fmt.Errorf("ceph testbed: writer %s ignored SIGTERM for 10s, killed", w.cfg.ID)
}

// Kill kills the writer with SIGKILL, as a host crash would: it keeps its
// lock and its watch until the OSD times the watch out (~30 s) or the
// client is blocklisted.
func (w *Writer) Kill() {
	_ = w.cmd.Process.Kill()
	<-w.done
}

func (w *Writer) exitErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waitErr
}

// tail renders the last few records for error messages.
func (w *Writer) tail() string {
	rs := w.Records()
	if len(rs) > 5 {
		rs = rs[len(rs)-5:]
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %s %s seq=%d ok=%v errno=%d %s\n", r.Time.Format("15:04:05.000"), r.Event, r.Seq, r.OK, r.Errno, r.Err)
	}
	return b.String()
}
