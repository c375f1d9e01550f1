package redfish

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// ErrInvalidConfig is wrapped by every error of Validate.
var ErrInvalidConfig = fence.ErrInvalidConfig

// ConfigError names the Config field that is wrong (fence.ConfigError).
type ConfigError = fence.ConfigError

func configErr(field, reason string) error {
	return &fence.ConfigError{Driver: "redfish", Field: field, Reason: reason}
}

// Config describes one BMC and how patiently to drive it.
type Config struct {
	// Endpoint is the BMC's base URL, "https://host[:port]" (http only with
	// AllowHTTP): no path, query or user info (credentials go in Username
	// and Password only).
	Endpoint string
	// Username and Password are sent with HTTP basic auth on every request.
	// The caller supplies the password; it is never logged, never part of an
	// error and never shown by String.
	Username string
	Password string
	// InsecureTLS skips verification of the BMC's certificate. Default
	// false: whoever can answer for the BMC's address would get the
	// password and could forge PowerState Off. Prefer CertSHA256 for a
	// self-signed certificate.
	InsecureTLS bool
	// RootCAs verifies the BMC's certificate when InsecureTLS is false and
	// no CertSHA256 is set; nil means the system's roots.
	RootCAs *x509.CertPool
	// CertSHA256, when set (32 bytes), pins the BMC's certificate: the
	// SHA-256 of the leaf certificate the BMC presents must be this, and
	// no chain is checked (most BMCs ship self-signed certificates).
	CertSHA256 []byte
	// AllowHTTP accepts an http:// Endpoint: the password and every
	// PowerState then cross the network in clear. Default false.
	AllowHTTP bool
	// SystemID picks the computer system by its Id, the last segment of its
	// URI ("1", "System.Embedded.1"). Empty means the only member of the
	// Systems collection: on a BMC that manages more than one system, every
	// call fails with fence.ErrInvalidConfig naming the systems found.
	SystemID string
	// RequestTimeout bounds each HTTP request: connect, TLS handshake and
	// reply. Default 10 s: some BMCs take seconds to answer.
	RequestTimeout time.Duration
	// OffTimeout bounds Off from its first request until PowerState is read
	// back Off. Default 30 s: fence-agents give the state change 20 s
	// (--power-timeout) and the rest is for connecting and the reset itself.
	OffTimeout time.Duration
	// OnTimeout bounds On likewise. Default 60 s: powering on is not urgent
	// and some BMCs stay in PoweringOn through firmware start.
	OnTimeout time.Duration
	// PollInterval is the pause between PowerState reads while verifying.
	// Default 500 ms: a read is cheap for the BMC, and each pause is time the
	// host's instances stay down.
	PollInterval time.Duration
	// PowerWait is how long PowerState must read the wanted state, on
	// consecutive reads, before Off or On believes it (fence.PowerCheck).
	// Default fence.DefaultPowerWait (2 s).
	PowerWait time.Duration
}

// DefaultConfig returns a Config with every timing set to its default and no
// endpoint or credentials.
func DefaultConfig() Config {
	return Config{
		RequestTimeout: 10 * time.Second,
		OffTimeout:     30 * time.Second,
		OnTimeout:      60 * time.Second,
		PollInterval:   500 * time.Millisecond,
		PowerWait:      fence.DefaultPowerWait,
	}
}

// Validate reports the first field that cannot work, as a *ConfigError.
func (c Config) Validate() error {
	if err := validateEndpoint(c.Endpoint, c.AllowHTTP); err != nil {
		return err
	}
	switch {
	case c.CertSHA256 != nil && len(c.CertSHA256) != sha256.Size:
		return configErr("CertSHA256", "must be a SHA-256 digest (32 bytes)")
	case c.InsecureTLS && (c.CertSHA256 != nil || c.RootCAs != nil):
		return configErr("InsecureTLS", "would skip the checks RootCAs or CertSHA256 ask for")
	}
	switch {
	case c.Username == "":
		return configErr("Username", "empty")
	case c.Password == "":
		return configErr("Password", "empty")
	case c.RequestTimeout <= 0:
		return configErr("RequestTimeout", "must be positive")
	case c.OffTimeout < c.RequestTimeout:
		return configErr("OffTimeout", "shorter than RequestTimeout")
	case c.OnTimeout < c.RequestTimeout:
		return configErr("OnTimeout", "shorter than RequestTimeout")
	case c.PollInterval <= 0:
		return configErr("PollInterval", "must be positive")
	case c.PollInterval >= c.OffTimeout:
		return configErr("PollInterval", "not shorter than OffTimeout: Off could read PowerState only once")
	case c.PowerWait < 0:
		return configErr("PowerWait", "must not be negative")
	case c.PowerWait+c.PollInterval >= c.OffTimeout:
		return configErr("PowerWait", "plus PollInterval not shorter than OffTimeout: Off could never verify")
	}
	return nil
}

// validateEndpoint never quotes the endpoint: a mistaken
// "https://user:password@bmc" must not end up in a log.
func validateEndpoint(endpoint string, allowHTTP bool) error {
	if endpoint == "" {
		return configErr("Endpoint", "empty")
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return configErr("Endpoint", "not a URL")
	case u.User != nil:
		return configErr("Endpoint", "contains user info; use Username and Password")
	case u.Scheme == "http" && !allowHTTP:
		return configErr("Endpoint", "plain http sends the password and the power state in clear: use https, or set AllowHTTP")
	case u.Scheme != "https" && u.Scheme != "http":
		return configErr("Endpoint", "scheme must be https")
	case u.Host == "" || u.Hostname() == "":
		return configErr("Endpoint", "no host")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return configErr("Endpoint", "must not have a path, query or fragment")
	}
	return nil
}

// String shows the config without the password.
func (c Config) String() string {
	return fmt.Sprintf("redfish.Config{Endpoint:%q Username:%q Password:%s InsecureTLS:%t CertSHA256:%x AllowHTTP:%t SystemID:%q "+
		"RequestTimeout:%v OffTimeout:%v OnTimeout:%v PollInterval:%v PowerWait:%v}",
		c.Endpoint, c.Username, fence.Redacted(c.Password), c.InsecureTLS, c.CertSHA256, c.AllowHTTP, c.SystemID,
		c.RequestTimeout, c.OffTimeout, c.OnTimeout, c.PollInterval, c.PowerWait)
}

// GoString keeps %#v from printing the password.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("username", c.Username),
		slog.String("password", fence.Redacted(c.Password)),
		slog.Bool("insecure_tls", c.InsecureTLS),
		slog.String("cert_sha256", fmt.Sprintf("%x", c.CertSHA256)),
		slog.Bool("allow_http", c.AllowHTTP),
		slog.String("system_id", c.SystemID),
		slog.Duration("request_timeout", c.RequestTimeout),
		slog.Duration("off_timeout", c.OffTimeout),
		slog.Duration("on_timeout", c.OnTimeout),
		slog.Duration("poll_interval", c.PollInterval),
		slog.Duration("power_wait", c.PowerWait),
	)
}
