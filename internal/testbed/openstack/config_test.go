package openstack

import (
	"net/netip"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig("")
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for name, change := range map[string]func(*Config){
		"relative dir":             func(c *Config) { c.Dir = "run/openstack" },
		"root dir":                 func(c *Config) { c.Dir = "/" },
		"fractional report":        func(c *Config) { c.ReportInterval = 1500 * time.Millisecond },
		"down time not above it":   func(c *Config) { c.ServiceDownTime = c.ReportInterval },
		"no start timeout":         func(c *Config) { c.StartTimeout = 0 },
		"relative templates":       func(c *Config) { c.Templates = "templates" },
		"fractional service down":  func(c *Config) { c.ServiceDownTime = 6500 * time.Millisecond },
		"report interval under 1s": func(c *Config) { c.ReportInterval = 0 },
	} {
		c := ok
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

func TestComputeConfigValidate(t *testing.T) {
	gw := netip.MustParseAddr("10.10.0.10")
	for _, tc := range []struct {
		name string
		c    ComputeConfig
		ok   bool
	}{
		{"plain process", ComputeConfig{Host: "cmp1"}, true},
		{"in a namespace", ComputeConfig{Host: "cmp3", Netns: "vg-os-1-host1", Gateway: gw, GatewayNetns: "vg-os-1-host0"}, true},
		{"no host", ComputeConfig{}, false},
		{"host with a space", ComputeConfig{Host: "cmp 1"}, false},
		{"namespace without gateway", ComputeConfig{Host: "cmp3", Netns: "vg-os-1-host1"}, false},
		{"gateway without namespace", ComputeConfig{Host: "cmp3", Gateway: gw, GatewayNetns: "vg-os-1-host0"}, false},
		{"IPv6 gateway", ComputeConfig{Host: "cmp3", Netns: "n1", Gateway: netip.MustParseAddr("fd00::1"), GatewayNetns: "n0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tc.c, err, tc.ok)
			}
		})
	}
}
