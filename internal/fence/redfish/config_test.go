package redfish

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence/fencetest"

	"github.com/google/go-cmp/cmp"
)

const secret = "s3cret-Pa55word"

func validConfig() Config {
	c := DefaultConfig()
	c.Endpoint = "https://bmc.example:8443"
	c.Username = "admin"
	c.Password = secret
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Config)
		wantField string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid trailing slash", func(c *Config) { c.Endpoint = "https://10.0.0.5/" }, ""},
		{"valid ipv6", func(c *Config) { c.Endpoint = "https://[fd00::5]:443" }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "Endpoint"},
		{"http", func(c *Config) { c.Endpoint = "http://bmc.example" }, "Endpoint"},
		{"http allowed", func(c *Config) { c.Endpoint, c.AllowHTTP = "http://bmc.example", true }, ""},
		{"pin", func(c *Config) { c.CertSHA256 = make([]byte, 32) }, ""},
		{"short pin", func(c *Config) { c.CertSHA256 = make([]byte, 20) }, "CertSHA256"},
		{"insecure with a pin", func(c *Config) { c.CertSHA256, c.InsecureTLS = make([]byte, 32), true }, "InsecureTLS"},
		{"no scheme", func(c *Config) { c.Endpoint = "bmc.example:443" }, "Endpoint"},
		{"user info", func(c *Config) { c.Endpoint = "https://admin:" + secret + "@bmc.example" }, "Endpoint"},
		{"path", func(c *Config) { c.Endpoint = "https://bmc.example/redfish/v1" }, "Endpoint"},
		{"query", func(c *Config) { c.Endpoint = "https://bmc.example?x=1" }, "Endpoint"},
		{"unparsable", func(c *Config) { c.Endpoint = "https://" + secret + "@[::1" }, "Endpoint"},
		{"no username", func(c *Config) { c.Username = "" }, "Username"},
		{"no password", func(c *Config) { c.Password = "" }, "Password"},
		{"zero request timeout", func(c *Config) { c.RequestTimeout = 0 }, "RequestTimeout"},
		{"off shorter than request", func(c *Config) { c.OffTimeout = time.Second }, "OffTimeout"},
		{"on shorter than request", func(c *Config) { c.OnTimeout = time.Second }, "OnTimeout"},
		{"zero poll", func(c *Config) { c.PollInterval = 0 }, "PollInterval"},
		{"poll not below off timeout", func(c *Config) { c.PollInterval = c.OffTimeout }, "PollInterval"},
		{"negative power wait", func(c *Config) { c.PowerWait = -1 }, "PowerWait"},
		{"power wait as long as off timeout", func(c *Config) { c.PowerWait = c.OffTimeout }, "PowerWait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			var got string
			var ce *ConfigError
			if errors.As(err, &ce) {
				got = ce.Field
			} else if err != nil {
				t.Fatalf("Validate() = %v, not a *ConfigError", err)
			}
			if diff := cmp.Diff(tt.wantField, got); diff != "" {
				t.Errorf("invalid field (-want +got):\n%s", diff)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, does not wrap ErrInvalidConfig", err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error text contains the password: %v", err)
			}
		})
	}
}

func TestDefaultConfigNeedsOnlyEndpointAndCredentials(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(DefaultConfig(), nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(DefaultConfig()) = %v, want ErrInvalidConfig", err)
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	fencetest.NeverShows(t, validConfig(), []string{secret}, []string{"bmc.example"})
}
