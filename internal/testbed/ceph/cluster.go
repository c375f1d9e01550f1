package ceph

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binaries are the programs Start runs; all come from Debian's ceph-mon,
// ceph-mgr, ceph-osd and ceph-common packages.
var Binaries = []string{"ceph-authtool", "monmaptool", "ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "rbd"}

// MissingBinaries returns the Binaries that are not on $PATH.
func MissingBinaries() []string {
	var missing []string
	for _, b := range Binaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	return missing
}

// Timings are the moments startup reached, measured from the start of Start.
type Timings struct {
	MonUp  time.Duration // `ceph -s` answered
	OSDUp  time.Duration // osd.0 up in the osdmap
	Usable time.Duration // pool rbd created and every PG active+clean
}

// Cluster is a running single-host cluster. Stop it when done.
type Cluster struct {
	cfg     Config
	conf    string
	timings Timings

	// mu guards procs.
	mu    sync.Mutex
	procs []*proc
}

// ConfPath is the cluster's ceph.conf; client.admin's key is in the keyring
// it names.
func (c *Cluster) ConfPath() string { return c.conf }

// Dir is the cluster's runtime directory.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// Timings reports how long startup took.
func (c *Cluster) Timings() Timings { return c.timings }

// StartT starts a cluster in a fresh t.TempDir() on portBase, stops it in
// t.Cleanup and fails t if it cannot start.
func StartT(t testing.TB, portBase int) *Cluster {
	t.Helper()
	cfg := DefaultConfig(t.TempDir())
	cfg.PortBase = portBase
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// Start builds and starts a cluster as cfg says and returns once pool `rbd`
// is usable. On failure it stops whatever it started and the error carries
// the end of the relevant daemon log.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if missing := MissingBinaries(); len(missing) > 0 {
		return nil, fmt.Errorf("ceph testbed: missing %s (scripts/install-deps.sh integration)", strings.Join(missing, ", "))
	}
	for _, port := range []int{cfg.PortBase, cfg.PortBase + 1} {
		if err := portFree(port); err != nil {
			return nil, err
		}
	}
	if err := prepareDir(cfg.Dir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	c := &Cluster{cfg: cfg, conf: filepath.Join(cfg.Dir, "ceph.conf")}
	defer func() {
		if err != nil {
			err = fmt.Errorf("ceph testbed: start in %s: %w", cfg.Dir, err)
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
	}()
	t0 := time.Now()
	fsid := newUUID()
	if err := os.WriteFile(c.conf, []byte(renderConf(fsid, cfg.Dir, cfg.PortBase, cfg.ObjectStore)+cfg.ExtraConf), 0o644); err != nil {
		return nil, err
	}
	if err := c.startMon(ctx, fsid); err != nil {
		return nil, err
	}
	c.timings.MonUp = time.Since(t0)
	if err := c.startMgr(ctx); err != nil {
		return nil, err
	}
	if err := c.startOSD(ctx); err != nil {
		return nil, err
	}
	c.timings.OSDUp = time.Since(t0)
	if err := c.createPool(ctx, "rbd"); err != nil {
		return nil, err
	}
	c.timings.Usable = time.Since(t0)
	return c, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("ceph testbed: port %d is taken (another cluster on this port base?): %w", port, err)
	}
	return l.Close()
}

// prepareDir creates dir's layout; dir must be missing or empty so that a
// previous cluster's data is never reused or clobbered.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("ceph testbed: Dir %s is not empty", dir)
	}
	for _, sub := range []string{"mon.a", "mgr.x", "osd.0", "log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startMon(ctx context.Context, fsid string) error {
	keyring := filepath.Join(c.cfg.Dir, "keyring")
	if _, err := c.run(ctx, "ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"); err != nil {
		return err
	}
	if _, err := c.run(ctx, "ceph-authtool", keyring, "--gen-key", "-n", "client.admin",
		"--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *", "--cap", "mds", "allow *"); err != nil {
		return err
	}
	monmap := filepath.Join(c.cfg.Dir, "monmap")
	if _, err := c.run(ctx, "monmaptool", "--create", "--fsid", fsid, "--addv", "a", monAddrs(c.cfg.PortBase), monmap); err != nil {
		return err
	}
	if _, err := c.run(ctx, "ceph-mon", "--conf", c.conf, "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring); err != nil {
		return err
	}
	if err := c.startDaemon("mon.a", "ceph-mon", "-i", "a"); err != nil {
		return err
	}
	return c.poll(ctx, "mon answers", "mon.a", func(ctx context.Context) (bool, error) {
		_, err := c.Ceph(ctx, "mon", "stat")
		return err == nil, nil
	})
}

func (c *Cluster) startMgr(ctx context.Context) error {
	keyring := filepath.Join(c.cfg.Dir, "mgr.x", "keyring")
	if _, err := c.Ceph(ctx, "auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *", "mds", "allow *", "-o", keyring); err != nil {
		return err
	}
	return c.startDaemon("mgr.x", "ceph-mgr", "-i", "x")
}

func (c *Cluster) startOSD(ctx context.Context) error {
	uuid := newUUID()
	out, err := c.Ceph(ctx, "osd", "new", uuid)
	if err != nil {
		return err
	}
	id := strings.TrimSpace(string(out))
	if id != "0" {
		return fmt.Errorf("osd new gave id %q, want 0", id)
	}
	keyring := filepath.Join(c.cfg.Dir, "osd.0", "keyring")
	if _, err := c.Ceph(ctx, "auth", "get-or-create", "osd.0", "mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *", "-o", keyring); err != nil {
		return err
	}
	if _, err := c.run(ctx, "ceph-osd", "--conf", c.conf, "-i", "0", "--mkfs", "--osd-uuid", uuid); err != nil {
		return err
	}
	if err := c.startDaemon("osd.0", "ceph-osd", "-i", "0"); err != nil {
		return err
	}
	return c.poll(ctx, "osd.0 up", "osd.0", func(ctx context.Context) (bool, error) {
		out, err := c.Ceph(ctx, "osd", "dump", "--format", "json")
		if err != nil {
			return false, nil
		}
		var dump struct {
			OSDs []struct {
				OSD int `json:"osd"`
				Up  int `json:"up"`
			} `json:"osds"`
		}
		if err := json.Unmarshal(out, &dump); err != nil {
			return false, fmt.Errorf("osd dump: %w", err)
		}
		return len(dump.OSDs) == 1 && dump.OSDs[0].Up == 1, nil
	})
}

func (c *Cluster) createPool(ctx context.Context, pool string) error {
	if _, err := c.Ceph(ctx, "osd", "pool", "create", pool, "8", "8"); err != nil {
		return err
	}
	if _, err := c.RBD(ctx, "pool", "init", pool); err != nil {
		return err
	}
	return c.poll(ctx, "every PG active+clean", "osd.0", func(ctx context.Context) (bool, error) {
		out, err := c.Ceph(ctx, "pg", "stat", "--format", "json")
		if err != nil {
			return false, nil
		}
		return allActiveClean(out)
	})
}

// allActiveClean reads `ceph pg stat --format json`.
func allActiveClean(out []byte) (bool, error) {
	var stat struct {
		Summary struct {
			ByState []struct {
				Name string `json:"name"`
				Num  int    `json:"num"`
			} `json:"num_pg_by_state"`
			NumPGs int `json:"num_pgs"`
		} `json:"pg_summary"`
	}
	if err := json.Unmarshal(out, &stat); err != nil {
		return false, fmt.Errorf("pg stat: %w", err)
	}
	clean := 0
	for _, s := range stat.Summary.ByState {
		if s.Name == "active+clean" {
			clean = s.Num
		}
	}
	return stat.Summary.NumPGs > 0 && clean == stat.Summary.NumPGs, nil
}

// CreateImage creates pool/name of size bytes with the features a Nova disk
// has that matter for fencing: layering and exclusive-lock.
func (c *Cluster) CreateImage(ctx context.Context, pool, name string, size int64) error {
	_, err := c.RBD(ctx, "create", pool+"/"+name, "--size", strconv.FormatInt(size, 10)+"B",
		"--image-feature", "layering,exclusive-lock")
	return err
}

// Ceph runs the ceph CLI against this cluster as client.admin.
func (c *Cluster) Ceph(ctx context.Context, args ...string) ([]byte, error) {
	return c.run(ctx, "ceph", append([]string{"--conf", c.conf, "--connect-timeout", "5"}, args...)...)
}

// RBD runs the rbd CLI against this cluster as client.admin.
func (c *Cluster) RBD(ctx context.Context, args ...string) ([]byte, error) {
	return c.run(ctx, "rbd", append([]string{"--conf", c.conf}, args...)...)
}

// run runs a short command and returns its stdout; the error carries stderr.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = clientEnv(c.conf)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// clientEnv is the environment of every program we run: ours, without any
// CEPH_ARGS that could point it elsewhere, and with CEPH_CONF set to conf.
func clientEnv(conf string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CEPH_ARGS=") && !strings.HasPrefix(kv, "CEPH_CONF=") {
			env = append(env, kv)
		}
	}
	return append(env, "CEPH_CONF="+conf)
}

// poll calls check until it reports done, returns an error, or ctx ends.
// Each check is an external command that takes 0.1–0.4 s, which paces the
// loop; a short ticker keeps a fast-failing check from spinning.
func (c *Cluster) poll(ctx context.Context, what, daemon string, check func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if exited := c.exited(); exited != "" {
			return fmt.Errorf("waiting for %s: %s exited\n%s", what, exited, c.logTail(exited))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w\n%s", what, ctx.Err(), c.logTail(daemon))
		case <-tick.C:
		}
	}
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
