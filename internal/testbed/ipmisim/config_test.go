package ipmisim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" = valid; else a word the error must contain
	}{
		{"default", func(*Config) {}, ""},
		{"fixed port", func(c *Config) { c.Port = 9623 }, ""},
		{"given password", func(c *Config) { c.Password = "s3cret-pw" }, ""},
		{"no namespace", func(c *Config) { c.Namespace = "" }, "namespace"},
		{"namespace with slash", func(c *Config) { c.Namespace = "../x" }, "namespace"},
		{"relative dir", func(c *Config) { c.Dir = "tmp/x" }, "dir"},
		{"dir with space", func(c *Config) { c.Dir = "/tmp/a b" }, "dir"},
		{"dir with quote", func(c *Config) { c.Dir = `/tmp/a"b` }, "dir"},
		{"privileged port", func(c *Config) { c.Port = 623 }, "port"},
		{"port too high", func(c *Config) { c.Port = 70000 }, "port"},
		{"no username", func(c *Config) { c.Username = "" }, "username"},
		{"username too long", func(c *Config) { c.Username = strings.Repeat("u", 17) }, "username"},
		{"password with quote", func(c *Config) { c.Password = `pw"x` }, "password"},
		{"password too long", func(c *Config) { c.Password = strings.Repeat("p", 17) }, "password"},
		{"no host command", func(c *Config) { c.HostCommand = nil }, "host command"},
		{"no start timeout", func(c *Config) { c.StartTimeout = 0 }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig("vg-x-host0", "/tmp/TestX/001")
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateNeverShowsPassword(t *testing.T) {
	c := DefaultConfig("vg-x-host0", "/tmp/x")
	c.Password = `topsecret"`
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("Validate() = %v, want an error without the password", err)
	}
}

func TestCandidatePortsCoverRange(t *testing.T) {
	got := candidatePorts()
	slices.Sort(got)
	var want []int
	for p := FirstPort; p <= LastPort; p++ {
		want = append(want, p)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidatePorts() sorted (-want +got):\n%s", diff)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sleep", `'sleep'`},
		{"a b", `'a b'`},
		{"it's", `'it'\''s'`},
		{"$(x)", `'$(x)'`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, shellQuote(tt.in)); diff != "" {
			t.Errorf("shellQuote(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestLanConf(t *testing.T) {
	c := DefaultConfig("vg-x-host0", "/tmp/run")
	c.Password = "pw"
	c.StartTimeout = time.Second
	b := &BMC{cfg: c, dir: "/tmp/run/vg-x-host0"}
	conf := b.lanConf(9642)
	for _, want := range []string{
		"addr 127.0.0.1 9642",
		`chassis_control "/tmp/run/vg-x-host0/chassis-control.sh vg-x-host0"`,
		`user 2 true "admin" "pw" admin`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("lan.conf lacks %q:\n%s", want, conf)
		}
	}
}
