package cephbl

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := DefaultConfig()
	c.ConfPath = "/etc/vigil/ceph.conf"
	c.Host = "compute-1"
	c.HostIPs = []netip.Addr{netip.MustParseAddr("10.0.1.5")}
	c.Images = []ImageRef{{Pool: "vms", Name: "0b9e_disk"}}
	return c
}

func TestDefaultConfigTimings(t *testing.T) {
	c := DefaultConfig()
	if c.Expire < 24*time.Hour {
		t.Errorf("default Expire %v, want at least 24h (Ceph's 1h default is too short)", c.Expire)
	}
	if c.PollInterval >= c.VerifyTimeout {
		t.Errorf("default PollInterval %v not below VerifyTimeout %v", c.PollInterval, c.VerifyTimeout)
	}
}

func TestConfigValidate(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"ipv6 host", func(c *Config) { c.HostIPs = []netip.Addr{ip("fd00::5")} }, ""},
		{"whole-IP entries need no images", func(c *Config) { c.Images = nil }, ""},
		{"images from a lister", func(c *Config) {
			c.Images, c.OwnerEntriesOnly = nil, true
			c.ListImages = func(context.Context) ([]ImageRef, error) { return nil, nil }
		}, ""},
		{"images from pools", func(c *Config) { c.Images, c.OwnerEntriesOnly, c.Pools = nil, true, []string{"vms"} }, ""},
		{"no conf", func(c *Config) { c.ConfPath = "" }, "ConfPath"},
		{"no user", func(c *Config) { c.User = "" }, "User"},
		{"no host", func(c *Config) { c.Host = "" }, "Host is empty"},
		{"no host IPs", func(c *Config) { c.HostIPs = nil }, "HostIPs is empty"},
		{"invalid IP", func(c *Config) { c.HostIPs = []netip.Addr{{}} }, "invalid"},
		{"unspecified IP", func(c *Config) { c.HostIPs = []netip.Addr{ip("0.0.0.0")} }, "unicast"},
		{"multicast IP", func(c *Config) { c.HostIPs = []netip.Addr{ip("239.1.1.1")} }, "unicast"},
		{"zoned IP", func(c *Config) { c.HostIPs = []netip.Addr{ip("fe80::1%eth0")} }, "zone"},
		{"duplicate IP", func(c *Config) { c.HostIPs = []netip.Addr{ip("10.0.1.5"), ip("::ffff:10.0.1.5")} }, "twice"},
		{"ceph default expiry is too short", func(c *Config) { c.Expire = 59 * time.Minute }, "below"},
		{"zero connect timeout", func(c *Config) { c.ConnectTimeout = 0 }, "positive"},
		{"zero verify timeout", func(c *Config) { c.VerifyTimeout = 0 }, "positive"},
		{"poll slower than verify", func(c *Config) { c.PollInterval = c.VerifyTimeout }, "PollInterval"},
		{"owner entries without images", func(c *Config) { c.Images, c.OwnerEntriesOnly = nil, true }, "blocklist nothing"},
		{"image without pool", func(c *Config) { c.Images = []ImageRef{{Name: "x"}} }, "pool and a name"},
		{"empty pool", func(c *Config) { c.Pools = []string{""} }, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate() = nil, want an error about %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate() = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
