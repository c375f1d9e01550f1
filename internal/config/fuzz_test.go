package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/vigil-ha/vigil/internal/config"
)

// FuzzParse checks that Parse never panics, that every error it returns is an
// ErrInvalid, and that a configuration that parses and validates survives a
// round trip: marshalled back to YAML, it parses to an equal configuration
// that still validates and resolves the same fencing levels.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../examples/vigil.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		base,
		topologies,
		"",
		"networks: [a]\n---\nnetworks: [b]\n",
		"detection: {dead_after: 6 seconds}\n",
		"fencing: {domains: {default: {levels: [[{driver: ipmi, password: x}]]}}}\n",
		"hosts: [&h {name: a}, {<<: *h, name: b}]\n",
		"doubt: {fraction: .nan}\n" + base,
		"a: &a [*a]\n",
		"detection: &a {<<: *a}\n",
		base + "  - {<<: {bmc: {address: 10.0.0.13}}, name: cmp3}\n",
		"hosts:\n\t- name: a\n",
		// Valid files with unusual spellings, for mutations to start from.
		"networks: ['mgmt', \"storage\", x_1]\nbrake: {max_fraction: 1e-3, window: 1h2m3.5s}\ndoubt: {fraction: 0.999}\n" + base,
		base + "  - name: cmp3.example.net\n    bmc: {address: \"fd00::3\", port: 0x26f}\n    storage_ips: [\"10.20.0.13\"]\n",
		base + "    fencing: {levels: [[{driver: fence-agent, agent: fence_x, username: \"a b: #c\", password_file: \"/p q\", options: {plug: \"'\\\"\"}}]]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data)
		if err != nil {
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse error %v is not ErrInvalid", err)
			}
			return
		}
		_ = c.String()
		if c.Validate() != nil {
			return
		}
		c2 := roundTrip(t, c)
		if err := c2.Validate(); err != nil {
			t.Fatalf("round-tripped config no longer validates: %v", err)
		}
		for _, h := range c.Hosts {
			l1, err1 := c.Levels(h.Name)
			l2, err2 := c2.Levels(h.Name)
			if err1 != nil || err2 != nil {
				t.Fatalf("Levels(%s) of a valid config: %v, %v", h.Name, err1, err2)
			}
			if diff := cmp.Diff(l1, l2, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("Levels(%s) changed in the round trip:\n%s", h.Name, diff)
			}
		}
	})
}

// FuzzRoundTrip aims FuzzParse's round-trip property at the values a
// mutation of YAML text rarely produces while staying valid: arbitrary
// strings, floats and durations set directly on a valid configuration.
func FuzzRoundTrip(f *testing.F) {
	f.Add("admin", "/etc/vigil/bmc.pass", "7", "rack1", 0.5, 0.25, int64(6e9), int64(24*3600e9))
	f.Add("a: b", "/#x", "'\"", "r-2", 1e-300, 0.999, int64(1), int64(1<<62))
	f.Fuzz(func(t *testing.T, user, file, plug, domain string, brake, doubt float64, deadAfter, expiry int64) {
		c, err := config.Parse([]byte(base))
		if err != nil {
			t.Fatal(err)
		}
		c.Brake.MaxFraction, c.Doubt.Fraction = brake, doubt
		c.Detection.DeadAfter = config.Duration(deadAfter)
		c.Detection.FailoverGrace = max(c.Detection.FailoverGrace, c.Detection.DeadAfter)
		c.Hosts[1].Domain = domain
		c.Hosts[1].Fencing.Levels = [][]config.Device{
			{{Driver: "fence-agent", Agent: "fence_x", Username: user, PasswordFile: file, Options: map[string]string{"plug": plug}}},
			{{Driver: "ceph-blocklist", Expiry: config.Duration(expiry)}},
		}
		if c.Validate() != nil {
			return
		}
		roundTrip(t, c)
	})
}

// roundTrip marshals a valid config, parses it back, and fails t unless the
// two are equal; it returns the parsed copy.
func roundTrip(t *testing.T, c config.Config) config.Config {
	t.Helper()
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	c2, err := config.Parse(out)
	if err != nil {
		t.Fatalf("re-Parse of\n%s\n: %v", out, err)
	}
	if diff := cmp.Diff(c, c2, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("round trip changed the config (-first +second):\n%s\nmarshalled:\n%s", diff, out)
	}
	return c2
}
