package netns

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	mgmt := Network{Name: "mgmt", Subnet: netip.MustParsePrefix("10.10.0.0/24")}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" = valid; else a word the error must contain
	}{
		{"default", func(*Config) {}, ""},
		{"one host one network", func(c *Config) { c.Hosts = 1; c.Networks = []Network{mgmt} }, ""},
		{"max hosts", func(c *Config) { c.Hosts = MaxHosts }, ""},
		{"wide subnet", func(c *Config) { c.Networks = []Network{{Name: "a", Subnet: netip.MustParsePrefix("10.0.0.0/16")}} }, ""},
		{"empty prefix", func(c *Config) { c.Prefix = "" }, "prefix"},
		{"prefix with slash", func(c *Config) { c.Prefix = "a/b" }, "prefix"},
		{"prefix too long", func(c *Config) { c.Prefix = strings.Repeat("a", 25) }, "prefix"},
		{"no hosts", func(c *Config) { c.Hosts = 0 }, "hosts"},
		{"too many hosts", func(c *Config) { c.Hosts = MaxHosts + 1 }, "hosts"},
		{"no networks", func(c *Config) { c.Networks = nil }, "network"},
		{"network name too long", func(c *Config) { c.Networks = []Network{{Name: "storage12", Subnet: mgmt.Subnet}} }, "network name"},
		{"network name upper case", func(c *Config) { c.Networks = []Network{{Name: "Mgmt", Subnet: mgmt.Subnet}} }, "network name"},
		{"duplicate network", func(c *Config) { c.Networks = []Network{mgmt, mgmt} }, "twice"},
		{"no subnet", func(c *Config) { c.Networks = []Network{{Name: "mgmt"}} }, "subnet"},
		{"ipv6 subnet", func(c *Config) { c.Networks = []Network{{Name: "v6", Subnet: netip.MustParsePrefix("fd00::/64")}} }, "subnet"},
		{"subnet too narrow", func(c *Config) { c.Networks = []Network{{Name: "a", Subnet: netip.MustParsePrefix("10.0.0.0/25")}} }, "subnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig("vg-test-1")
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

func TestHostAddr(t *testing.T) {
	tests := []struct {
		subnet string
		host   int
		want   string
	}{
		{"10.10.0.0/24", 0, "10.10.0.10"},
		{"10.20.0.0/24", 2, "10.20.0.12"},
		{"10.20.0.77/24", 1, "10.20.0.11"}, // host bits of the subnet are ignored
		{"10.0.0.0/16", MaxHosts - 1, "10.0.0.209"},
	}
	for _, tt := range tests {
		got := hostAddr(Network{Name: "n", Subnet: netip.MustParsePrefix(tt.subnet)}, tt.host)
		if diff := cmp.Diff(tt.want, got.String()); diff != "" {
			t.Errorf("hostAddr(%s, %d) (-want +got):\n%s", tt.subnet, tt.host, diff)
		}
	}
}

// Interface names must fit the kernel's IFNAMSIZ (15 characters) for the
// longest network name and the highest host index Validate allows.
func TestInterfaceNamesFit(t *testing.T) {
	longest := "abcdefgh"
	if err := (Config{Prefix: "p", Hosts: MaxHosts, Networks: []Network{
		{Name: longest, Subnet: netip.MustParsePrefix("10.1.0.0/24")},
	}}).Validate(); err != nil {
		t.Fatalf("setup: %v", err)
	}
	for _, name := range []string{Interface(longest), bridge(longest), fabricPort(MaxHosts-1, longest)} {
		if len(name) > 15 {
			t.Errorf("interface name %q is %d characters, the kernel allows 15", name, len(name))
		}
	}
}

func TestUniquePrefix(t *testing.T) {
	valid := regexp.MustCompile(`^vg-[a-z0-9]{1,6}-[a-z0-9]+-[a-z0-9]+$`)
	seen := map[string]bool{}
	for _, tag := range []string{"TestFenceIPMI/off", "", "ü", "x"} {
		p := UniquePrefix(tag)
		if !valid.MatchString(p) {
			t.Errorf("UniquePrefix(%q) = %q, want it to match %s", tag, p, valid)
		}
		if err := DefaultConfig(p).Validate(); err != nil {
			t.Errorf("UniquePrefix(%q) = %q is not a valid prefix: %v", tag, p, err)
		}
		if seen[p] {
			t.Errorf("UniquePrefix(%q) = %q was returned before", tag, p)
		}
		seen[p] = true
	}
}
