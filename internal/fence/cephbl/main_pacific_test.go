//go:build pacific

package cephbl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

// bed is the cluster of this package's integration tests. Port base 41200
// keeps it clear of internal/testbed/ceph's own tests (41000), which go
// test may run at the same time.
var bed = &ceph.Shared{PortBase: 21200}

func TestMain(m *testing.M) {
	bed.Enabled = os.Getenv("VIGIL_INTEGRATION") == "1"
	bed.RunDir = os.Getenv("VIGIL_RUN")
	os.Exit(bed.Close(m.Run()))
}

// env is one test's view of the shared cluster. Each test plays a host on
// its own loopback IP (127.0.0.2, .3, …) so that tests never see each
// other's blocklist entries, and removes every entry on that IP at the end.
type env struct {
	t       testing.TB
	cluster *ceph.Cluster
	writer  string // rbdwriter binary
	hostIP  netip.Addr
}

func setup(t testing.TB, hostIP string) *env {
	t.Helper()
	c, w := bed.Get(t)
	e := &env{t: t, cluster: c, writer: w, hostIP: netip.MustParseAddr(hostIP)}
	t.Cleanup(func() { e.clearBlocklist(e.hostIP) })
	return e
}

var imageSeq atomic.Int64

// image creates a fresh image with a name unique in the test binary.
func (e *env) image(name string) ImageRef {
	e.t.Helper()
	ref := ImageRef{Pool: "rbd", Name: fmt.Sprintf("%s-%d", name, imageSeq.Add(1))}
	if err := e.cluster.CreateImage(e.t.Context(), ref.Pool, ref.Name, 64<<20); err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// startWriter starts a writer of img from src that holds the lock and has
// written twice; it is stopped at the end of the test.
func (e *env) startWriter(ctx context.Context, img ImageRef, id string, src netip.Addr) *ceph.Writer {
	e.t.Helper()
	cfg := e.cluster.WriterConfig(e.writer, img.Name, id)
	cfg.SourceIP = src
	w, err := ceph.StartLockedWriter(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			e.t.Error(err)
		}
	})
	if err := w.WaitWrites(ctx, 2); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// release lifts d's fence from proof, forced, and fails the test if it
// cannot.
func (e *env) release(d *Device, proof fence.Proof) string {
	e.t.Helper()
	out, err := d.Release(e.t.Context(), fence.Release{Proofs: []fence.Proof{proof}, Force: true, By: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// config is a device config for the env's host with short timings.
func (e *env) config(images ...ImageRef) Config {
	c := DefaultConfig()
	c.ConfPath = e.cluster.ConfPath()
	c.User = "admin" // the caps tests use their own users
	c.Host = "host-" + e.hostIP.String()
	c.HostIPs = []netip.Addr{e.hostIP}
	c.Images = images
	c.VerifyTimeout = 20 * time.Second
	c.PollInterval = 100 * time.Millisecond
	return c
}

func (e *env) device(cfg Config) *Device {
	e.t.Helper()
	d, err := New(cfg, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// listed reads the blocklist with the ceph CLI, independently of the
// code under test: entry -> expiry.
func (e *env) listed() map[string]time.Time {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // also used from Cleanup, after t.Context() ends
	defer cancel()
	out, err := e.cluster.Ceph(ctx, "osd", "blocklist", "ls", "--format", "json")
	if err != nil {
		e.t.Fatal(err)
	}
	var entries []struct{ Addr, Until string }
	if err := json.NewDecoder(strings.NewReader(string(out))).Decode(&entries); err != nil {
		e.t.Fatalf("blocklist ls: %v\n%s", err, out)
	}
	m := map[string]time.Time{}
	for _, en := range entries {
		until, err := time.Parse("2006-01-02T15:04:05.999999-0700", en.Until)
		if err != nil {
			e.t.Fatal(err)
		}
		m[en.Addr] = until
	}
	return m
}

// listedOn returns the listed entries on ip, sorted.
func (e *env) listedOn(ip netip.Addr) []string {
	var on []string
	for a := range e.listed() {
		if p, err := parseAddr(a); err == nil && p.IP == ip.Unmap() {
			on = append(on, a)
		}
	}
	slices.Sort(on)
	return on
}

// listedRanges returns the listed range entries ("127.0.0.15:0/32").
func (e *env) listedRanges() []string {
	e.t.Helper()
	out, err := e.cluster.Ceph(context.Background(), "osd", "blocklist", "ls", "--format", "json")
	if err != nil {
		e.t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var entries []struct{ Addr string }
	var ranges []struct{ Range string }
	if err := dec.Decode(&entries); err != nil {
		e.t.Fatal(err)
	}
	_ = dec.Decode(&ranges) // absent when there is none
	var rs []string
	for _, r := range ranges {
		rs = append(rs, r.Range)
	}
	return rs
}

func (e *env) addEntry(entry string) {
	e.t.Helper()
	if _, err := e.cluster.Ceph(e.t.Context(), "osd", "blocklist", "add", entry, "3600"); err != nil {
		e.t.Fatal(err)
	}
}

// clearBlocklist removes every entry on ip (including the ones librbd adds
// when it breaks a dead owner's lock).
func (e *env) clearBlocklist(ip netip.Addr) {
	for _, a := range e.listedOn(ip) {
		if _, err := e.cluster.Ceph(context.Background(), "osd", "blocklist", "rm", a); err != nil {
			e.t.Errorf("cleanup: %v", err)
		}
	}
}
