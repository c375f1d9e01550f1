package ceph

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig("/tmp/vigil-ceph-x")
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error, "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"bluestore", func(c *Config) { c.ObjectStore = "bluestore" }, ""},
		{"empty dir", func(c *Config) { c.Dir = "" }, "Dir is empty"},
		{"relative dir", func(c *Config) { c.Dir = "run/ceph" }, "not absolute"},
		{"dir too long for sockets", func(c *Config) { c.Dir = "/tmp/" + strings.Repeat("d", 70) }, "longer than"},
		{"dir inside this module", func(c *Config) { c.Dir = mustAbs(t, "testdata-run") }, "inside the Go module"},
		{"privileged port", func(c *Config) { c.PortBase = 80 }, "outside"},
		{"port span past 65535", func(c *Config) { c.PortBase = 65500 }, "outside"},
		{"unknown store", func(c *Config) { c.ObjectStore = "filestore" }, "neither"},
		{"no start timeout", func(c *Config) { c.StartTimeout = 0 }, "StartTimeout"},
		{"no stop timeout", func(c *Config) { c.StopTimeout = -time.Second }, "StopTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			checkErr(t, c.Validate(), tt.want)
		})
	}
}

func TestWriterConfigValidate(t *testing.T) {
	c := &Cluster{conf: "/tmp/x/ceph.conf", cfg: DefaultConfig("/tmp/x")}
	ok := c.WriterConfig("/tmp/x/rbdwriter", "vm1", "A")
	tests := []struct {
		name   string
		change func(*WriterConfig)
		want   string
	}{
		{"default", func(*WriterConfig) {}, ""},
		{"other host", func(w *WriterConfig) { w.SourceIP = netip.MustParseAddr("127.0.0.2") }, ""},
		{"no binary", func(w *WriterConfig) { w.Binary = "" }, "Binary"},
		{"no image", func(w *WriterConfig) { w.Image = "" }, "Image"},
		{"id with slash", func(w *WriterConfig) { w.ID = "a/b" }, "must not contain"},
		{"ipv6 source", func(w *WriterConfig) { w.SourceIP = netip.MustParseAddr("::1") }, "not IPv4"},
		{"zero interval", func(w *WriterConfig) { w.Interval = 0 }, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := ok
			tt.change(&w)
			checkErr(t, w.Validate(), tt.want)
		})
	}
}

func TestRenderConfUsesOnlyDirAndPorts(t *testing.T) {
	conf := renderConf("fsid-1", "/tmp/c", 41000, "memstore")
	for _, want := range []string{
		"mon host = [v2:127.0.0.1:41000,v1:127.0.0.1:41001]",
		"ms bind port min = 41010",
		"ms bind port max = 41100",
		"osd objectstore = memstore",
		"keyring = /tmp/c/keyring",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("ceph.conf lacks %q", want)
		}
	}
	// Every path must be inside the runtime dir.
	for _, m := range regexp.MustCompile(`= (/[^\s]*)`).FindAllStringSubmatch(conf, -1) {
		if !strings.HasPrefix(m[1], "/tmp/c/") {
			t.Errorf("ceph.conf path %q outside the runtime dir", m[1])
		}
	}
}

func TestAllActiveClean(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{"all clean", `{"pg_ready":true,"pg_summary":{"num_pg_by_state":[{"name":"active+clean","num":9}],"num_pgs":9}}`, true},
		{"some peering", `{"pg_summary":{"num_pg_by_state":[{"name":"active+clean","num":1},{"name":"creating+peering","num":8}],"num_pgs":9}}`, false},
		{"no pgs yet", `{"pg_summary":{"num_pg_by_state":[],"num_pgs":0}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := allActiveClean([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("allActiveClean = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := allActiveClean([]byte("not json")); err == nil {
		t.Error("allActiveClean accepted garbage")
	}
}

func TestNewUUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := newUUID(), newUUID()
	if !re.MatchString(a) {
		t.Errorf("newUUID() = %q, not a version 4 UUID", a)
	}
	if diff := cmp.Diff(a, b); diff == "" {
		t.Error("two UUIDs are equal")
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func mustAbs(t *testing.T, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
