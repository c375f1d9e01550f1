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
		"hosts:\n\t- name: a\n",
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
