package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/vigil-ha/vigil/internal/config"
)

// Strings and numbers that YAML could misread survive a round trip through
// yaml.Marshal (what FuzzParse checks at random, pinned here).
func TestRoundTripOddValues(t *testing.T) {
	for _, s := range []string{"\u2028x", "x\u0085y", "\ufeffa", " lead", "trail ", "#x", "a: b", "*x", "&x", "!x", "%x", "@x", "`x", "'", "\"", "-", "- x", "? x", "yes", "null", "~", "0x10", "1e3", ".inf", "\t", "a\tb", "\u00a0", "\u200b", "x\\y", "{", "[", "|", ">", "\x7f", "\u0080", "\ue000", "\U0001F600", "2001-01-01"} {
		c := mustParse(t, base)
		dev(&c).Username = s
		c.Hosts[0].Fencing.Levels = [][]config.Device{{{Driver: "fence-agent", Agent: "fence_x", PasswordFile: "/p" + s, Options: map[string]string{"plug": s}}}}
		if err := c.Validate(); err != nil {
			continue // e.g. control characters in a user name
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := config.Parse(out)
		if err != nil {
			t.Errorf("%q: %v\n%s", s, err, out)
			continue
		}
		if diff := cmp.Diff(c, c2, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q: %s", s, diff)
		}
	}
	for _, f := range []float64{1e-300, 5e-324, 0.1, 1.0 / 3, 1} {
		c := mustParse(t, base)
		c.Brake.MaxFraction = f
		c.Doubt.Fraction = f / 2
		out, _ := yaml.Marshal(c)
		c2, err := config.Parse(out)
		if err != nil {
			t.Errorf("%v: %v", f, err)
			continue
		}
		if diff := cmp.Diff(c, c2, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%v: %s", f, diff)
		}
	}
}
