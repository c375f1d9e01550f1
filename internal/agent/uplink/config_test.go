package uplink

import (
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/internal/wire"
)

// Validate names the field that is wrong. The uplink's behaviour is tested
// against the controller's transport on loopback
// (internal/controller/agentnet).
func TestConfigValidateNamesTheField(t *testing.T) {
	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := wire.HostKeysFrom([]wire.Secret{s}, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	ok := DefaultConfig()
	ok.Keys = hk
	ok.Networks = []Network{{Name: "mgmt", Listen: "10.0.0.11:7701", Controllers: []string{"10.0.0.1:7700"},
		Peers: []Peer{{Host: "cmp2", Addr: "10.0.0.12:7701"}}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("the default with one network: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no keys", func(c *Config) { c.Keys = wire.HostKeys{} }, "keys"},
		{"no networks", func(c *Config) { c.Networks = nil }, "networks"},
		{"unspecified address", func(c *Config) { c.Networks[0].Listen = "0.0.0.0:7701" }, "networks[0].listen"},
		{"no controllers", func(c *Config) { c.Networks[0].Controllers = nil }, "networks[0].controllers"},
		{"bad controller", func(c *Config) { c.Networks[0].Controllers = []string{"ctl1"} }, "networks[0].controllers[0]"},
		{"itself a peer", func(c *Config) { c.Networks[0].Peers = []Peer{{Host: "cmp1", Addr: "10.0.0.11:7701"}} }, "networks[0].peers[0]"},
		{"silence", func(c *Config) { c.Silence = 0 }, "silence"},
		{"relay limit", func(c *Config) { c.RelayBurst = 0 }, "relay limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			n := ok.Networks[0]
			cfg.Networks = []Network{n}
			c.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %v, want one naming %s", err, c.field)
			}
		})
	}
}
