package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence/fencetest"
)

const secret = "Sup3rSecret!"

// fakeAgentDir copies testdata/fence_fake into a fresh directory, which
// also holds the fake's state files.
func fakeAgentDir(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("testdata/fence_fake")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fence_fake"), src, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fakeConfig(dir string) Config {
	c := DefaultConfig()
	c.Agent = "fence_fake"
	c.Dir = dir
	c.Address = "10.10.0.100"
	c.Port = 623
	c.Username = "admin"
	c.Password = secret
	return c
}

func TestConfigValidate(t *testing.T) {
	dir := fakeAgentDir(t)
	if err := os.WriteFile(filepath.Join(dir, "fence_noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"minimal", func(c *Config) { c.Address, c.Port, c.Username, c.Password = "", 0, "", "" }, ""},
		{"options", func(c *Config) { c.Options = map[string]string{"method": "cycle", "power-timeout": "30"} }, ""},
		{"agent not fence_", func(c *Config) { c.Agent = "rm" }, "Agent"},
		{"agent with path", func(c *Config) { c.Agent = "fence_../fence_fake" }, "Agent"},
		{"agent upper case", func(c *Config) { c.Agent = "fence_Fake" }, "Agent"},
		{"agent missing in dir", func(c *Config) { c.Agent = "fence_missing" }, "Agent"},
		{"agent missing in PATH", func(c *Config) { c.Agent, c.Dir = "fence_vigil_no_such_agent", "" }, "Agent"},
		{"agent not executable", func(c *Config) { c.Agent = "fence_noexec" }, "Agent"},
		{"relative dir", func(c *Config) { c.Dir = "testdata" }, "Dir"},
		{"address with newline", func(c *Config) { c.Address = "10.0.0.1\naction=on" }, "Address"},
		{"username with CR", func(c *Config) { c.Username = "admin\r" }, "Username"},
		{"password with newline", func(c *Config) { c.Password = "pw\naction=on" }, "Password"},
		{"password with NUL", func(c *Config) { c.Password = "pw\x00" }, "Password"},
		{"password with leading space", func(c *Config) { c.Password = " pw" }, "Password"},
		{"password in double quotes", func(c *Config) { c.Password = `"pw"` }, "Password"},
		{"option sets action", func(c *Config) { c.Options = map[string]string{"action": "reboot"} }, "Options"},
		{"option sets password alias", func(c *Config) { c.Options = map[string]string{"passwd": "x"} }, "Options"},
		{"option sets ip alias", func(c *Config) { c.Options = map[string]string{"ipaddr": "x"} }, "Options"},
		{"option dashed alias", func(c *Config) { c.Options = map[string]string{"ip-port": "1"} }, ""},
		{"option bad key", func(c *Config) { c.Options = map[string]string{"Bad Key": "1"} }, "Options"},
		{"option value with newline", func(c *Config) { c.Options = map[string]string{"method": "cycle\naction=on"} }, "Options"},
		{"option value with a space", func(c *Config) { c.Options = map[string]string{"method": "cycle -o"} }, "Options"},
		{"address with a space", func(c *Config) { c.Address = "10.0.0.1 -o" }, "Address"},
		{"secret option", func(c *Config) { c.Secrets = map[string]string{"hexadecimal_kg": "c0ffee"} }, ""},
		{"secret option sets password", func(c *Config) { c.Secrets = map[string]string{"passwd": "x"} }, "Secrets"},
		{"secret option also an option", func(c *Config) {
			c.Options, c.Secrets = map[string]string{"kg": "1"}, map[string]string{"kg": "2"}
		}, "Secrets"},
		{"empty secret option", func(c *Config) { c.Secrets = map[string]string{"hexadecimal_kg": ""} }, "Secrets"},
		{"negative port", func(c *Config) { c.Port = -1 }, "Port"},
		{"port too high", func(c *Config) { c.Port = 65536 }, "Port"},
		{"bad cipher", func(c *Config) { c.CipherSuite = 256 }, "CipherSuite"},
		{"no run timeout", func(c *Config) { c.RunTimeout = 0 }, "RunTimeout"},
		{"off timeout below run timeout", func(c *Config) { c.OffTimeout = c.RunTimeout - time.Second }, "OffTimeout"},
		{"on timeout below run timeout", func(c *Config) { c.OnTimeout = time.Second }, "OnTimeout"},
		{"no poll interval", func(c *Config) { c.PollInterval = 0 }, "PollInterval"},
		{"poll interval as long as off timeout", func(c *Config) { c.PollInterval = c.OffTimeout }, "PollInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeConfig(dir)
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want a *ConfigError for %s wrapping ErrInvalidConfig", err, tt.field)
			}
			if c.Password != "" && strings.Contains(err.Error(), strings.TrimSpace(c.Password)) {
				t.Errorf("Validate() error %q shows the password", err)
			}
			for _, v := range c.Options {
				if strings.Contains(err.Error(), v) {
					t.Errorf("Validate() error %q shows an option value", err)
				}
			}
		})
	}
}

func TestDefaultIPMILanConfig(t *testing.T) {
	c := DefaultIPMILanConfig()
	if c.Agent != "fence_ipmilan" || !c.Lanplus || c.CipherSuite != 3 {
		t.Errorf("DefaultIPMILanConfig() = %v, want fence_ipmilan, lanplus, cipher 3", c)
	}
	c.Agent, c.Dir = "fence_fake", fakeAgentDir(t)
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigNeverShowsSecrets(t *testing.T) {
	c := fakeConfig("/opt/agents")
	c.Options = map[string]string{"snmp_priv_passwd": "PrivSecret"}
	c.Secrets = map[string]string{"hexadecimal_kg": "KgSecret"}
	fencetest.NeverShows(t, c, []string{secret, "PrivSecret", "KgSecret"}, []string{"fence_fake", "snmp_priv_passwd", "hexadecimal_kg"})
}
