package agentnet

import (
	"strings"
	"testing"
	"time"
)

// Validate names the field that is wrong.
func TestConfigValidateNamesTheField(t *testing.T) {
	ok := DefaultConfig()
	ok.Networks = []Network{{Name: "mgmt", Listen: "10.0.0.1:7700"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("the default with one network: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no networks", func(c *Config) { c.Networks = nil }, "networks"},
		{"unspecified address", func(c *Config) { c.Networks[0].Listen = "0.0.0.0:7700" }, "networks[0].listen"},
		{"no port", func(c *Config) { c.Networks[0].Listen = "10.0.0.1" }, "networks[0].listen"},
		{"twice", func(c *Config) { c.Networks = append(c.Networks, c.Networks[0]) }, "networks[1].name"},
		{"window", func(c *Config) { c.Gate.Window = time.Hour }, "gate window"},
		{"retry", func(c *Config) { c.RetryBurst = 0 }, "retry limits"},
		{"readers", func(c *Config) { c.Readers = 0 }, "readers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			cfg.Networks = append([]Network(nil), ok.Networks...)
			c.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %v, want one naming %s", err, c.field)
			}
		})
	}
}

// The limit lets a source's burst through, then one per interval, and
// forgets nothing that matters when it prunes idle sources.
func TestLimiter(t *testing.T) {
	l := newLimiter(2, time.Second, 1000)
	l.pruneAt = 4
	src := mustAddr("10.0.0.1:1")
	var got []bool
	for _, at := range []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second, time.Second} {
		got = append(got, l.allow(src, at))
	}
	want := []bool{true, true, false, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allowed %v, want %v", got, want)
		}
	}
	for i := range 8 {
		l.allow(mustAddr("10.0.1."+string(rune('1'+i))+":1"), 100*time.Second)
	}
	if _, kept := l.per[src]; kept {
		t.Fatal("an idle source whose bucket is full again was kept")
	}
	first, second, third := l.allow(src, 100*time.Second), l.allow(src, 100*time.Second), l.allow(src, 100*time.Second)
	if !first || !second || third {
		t.Fatal("a pruned source came back without its full burst, or with more")
	}
}
