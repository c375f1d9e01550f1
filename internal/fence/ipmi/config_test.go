package ipmi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence/fencetest"
)

const secret = "Sup3rSecret!"

func validConfig() Config {
	c := DefaultConfig()
	c.Address = "10.10.0.100"
	c.Username = "admin"
	c.Password = secret
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"host name", func(c *Config) { c.Address = "bmc-host1.example.org" }, ""},
		{"ipv6", func(c *Config) { c.Address = "fd00::1" }, ""},
		{"20 byte password", func(c *Config) { c.Password = strings.Repeat("p", 20) }, ""},
		{"no retries", func(c *Config) { c.Retries = 0 }, ""},
		{"empty address", func(c *Config) { c.Address = "" }, "Address"},
		{"address with user", func(c *Config) { c.Address = "admin@bmc" }, "Address"},
		{"address as URL", func(c *Config) { c.Address = "https://bmc/" }, "Address"},
		{"port 0", func(c *Config) { c.Port = 0 }, "Port"},
		{"port too high", func(c *Config) { c.Port = 65536 }, "Port"},
		{"empty username", func(c *Config) { c.Username = "" }, "Username"},
		{"username too long", func(c *Config) { c.Username = strings.Repeat("u", 17) }, "Username"},
		{"empty password", func(c *Config) { c.Password = "" }, "Password"},
		{"password too long", func(c *Config) { c.Password = strings.Repeat("p", 21) }, "Password"},
		{"cipher suite 0", func(c *Config) { c.CipherSuite = 0 }, "CipherSuite"},
		{"unknown cipher suite", func(c *Config) { c.CipherSuite = 99 }, "CipherSuite"},
		{"negative cipher suite", func(c *Config) { c.CipherSuite = -3 }, "CipherSuite"},
		{"no exchange timeout", func(c *Config) { c.ExchangeTimeout = 0 }, "ExchangeTimeout"},
		{"negative retries", func(c *Config) { c.Retries = -1 }, "Retries"},
		{"too many retries", func(c *Config) { c.Retries = 11 }, "Retries"},
		{"off timeout too short", func(c *Config) { c.OffTimeout = c.ExchangeTimeout / 2 }, "OffTimeout"},
		{"on timeout too short", func(c *Config) { c.OnTimeout = 0 }, "OnTimeout"},
		{"no poll interval", func(c *Config) { c.PollInterval = 0 }, "PollInterval"},
		{"poll interval as long as off timeout", func(c *Config) { c.PollInterval = c.OffTimeout }, "PollInterval"},
		{"no power wait", func(c *Config) { c.PowerWait = 0 }, ""},
		{"administrator", func(c *Config) { c.Privilege = PrivilegeAdministrator }, ""},
		{"no privilege", func(c *Config) { c.Privilege = "" }, "Privilege"},
		{"user privilege", func(c *Config) { c.Privilege = "user" }, "Privilege"},
		{"negative power wait", func(c *Config) { c.PowerWait = -time.Second }, "PowerWait"},
		{"power wait as long as off timeout", func(c *Config) { c.PowerWait = c.OffTimeout }, "PowerWait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
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
			if strings.Contains(err.Error(), c.Password) && c.Password != "" {
				t.Errorf("Validate() error %q shows the password", err)
			}
		})
	}
}

func TestDefaultConfigNeedsOnlyAddressAndCredentials(t *testing.T) {
	c := DefaultConfig()
	var ce *ConfigError
	if err := c.Validate(); !errors.As(err, &ce) || ce.Field != "Address" {
		t.Fatalf("DefaultConfig().Validate() = %v, want Address missing", err)
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("defaults plus address and credentials: %v", err)
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	fencetest.NeverShows(t, validConfig(), []string{secret}, []string{"10.10.0.100"})
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := validConfig()
	c.OffTimeout = time.Millisecond
	if _, err := New(c, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New() = %v, want ErrInvalidConfig", err)
	}
}
