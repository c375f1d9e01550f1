package ipmi

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/bougou/go-ipmi/pkg/types"
	"github.com/vigil-ha/vigil/internal/fence"
)

// ErrInvalidConfig is wrapped by every error of Validate.
var ErrInvalidConfig = fence.ErrInvalidConfig

// ConfigError names the Config field that is wrong (fence.ConfigError).
type ConfigError = fence.ConfigError

func configErr(field, reason string) error {
	return &fence.ConfigError{Driver: "ipmi", Field: field, Reason: reason}
}

// IPMI 2.0 limits (spec section 13.17, table 22-32).
const (
	maxUsername = 16
	maxPassword = 20
)

// Privilege is an IPMI session privilege level.
type Privilege string

// The privilege levels the driver asks for.
const (
	PrivilegeOperator      Privilege = "operator"
	PrivilegeAdministrator Privilege = "administrator"
)

func (p Privilege) level() types.PrivilegeLevel {
	if p == PrivilegeAdministrator {
		return types.PrivilegeLevelAdministrator
	}
	return types.PrivilegeLevelOperator
}

// Config describes one BMC and how patiently to drive it.
type Config struct {
	// Address is the BMC's host name or IP address.
	Address string
	// Port is the BMC's UDP port. Default 623, the RMCP port.
	Port int
	// Username and Password log in to the BMC. The caller supplies the
	// password; it is never logged, never part of an error and never shown
	// by String.
	Username string
	Password string
	// Privilege is the session's privilege level. Default
	// PrivilegeOperator: chassis control needs no more (IPMI 2.0 table
	// G-1), and a BMC user for fencing should have no more.
	Privilege Privilege
	// CipherSuite is the RMCP+ cipher suite ID. Default 3
	// (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), the one every IPMI 2.0
	// BMC must offer. Naming it saves the search over suites that costs
	// seconds on some BMCs (6 s against ipmi_sim).
	CipherSuite int
	// ExchangeTimeout bounds the wait for one UDP reply. Default 1 s,
	// ipmitool's lanplus default: a BMC on a healthy management network
	// answers in milliseconds.
	ExchangeTimeout time.Duration
	// Retries is how often a request whose reply timed out is sent again.
	// Default 2: UDP loses packets, and a BMC that misses three in a row is
	// unreachable for fencing purposes.
	Retries int
	// OffTimeout bounds Off from its first packet until the power reads back
	// off. Default 30 s: fence-agents give the state change 20 s
	// (--power-timeout) and the rest is for the session and the command.
	OffTimeout time.Duration
	// OnTimeout bounds On likewise. Default 60 s: powering on is not urgent.
	OnTimeout time.Duration
	// PollInterval is the pause between power-state reads while verifying.
	// Default 500 ms: a read is cheap for the BMC, and each pause is time the
	// host's instances stay down.
	PollInterval time.Duration
	// PowerWait is how long the power must read back the wanted state, on
	// consecutive reads, before Off or On believes it (fence.PowerCheck).
	// Default fence.DefaultPowerWait (2 s).
	PowerWait time.Duration
}

// DefaultConfig returns a Config with every default set and no address or
// credentials.
func DefaultConfig() Config {
	return Config{
		Port:            623,
		Privilege:       PrivilegeOperator,
		CipherSuite:     3,
		ExchangeTimeout: time.Second,
		Retries:         2,
		OffTimeout:      30 * time.Second,
		OnTimeout:       60 * time.Second,
		PollInterval:    500 * time.Millisecond,
		PowerWait:       fence.DefaultPowerWait,
	}
}

// Validate reports the first field that cannot work, as a *ConfigError.
func (c Config) Validate() error {
	switch {
	case c.Address == "":
		return configErr("Address", "empty")
	case strings.ContainsFunc(c.Address, func(r rune) bool { return unicode.IsSpace(r) || r == '/' || r == '@' }):
		return configErr("Address", "must be a bare host name or IP address")
	case c.Port < 1 || c.Port > 65535:
		return configErr("Port", "must be 1 to 65535")
	case c.Username == "":
		return configErr("Username", "empty")
	case len(c.Username) > maxUsername:
		return configErr("Username", fmt.Sprintf("longer than IPMI's %d bytes", maxUsername))
	case c.Password == "":
		return configErr("Password", "empty")
	case len(c.Password) > maxPassword:
		return configErr("Password", fmt.Sprintf("longer than IPMI's %d bytes", maxPassword))
	case c.Privilege != PrivilegeOperator && c.Privilege != PrivilegeAdministrator:
		return configErr("Privilege", "must be operator or administrator")
	case c.CipherSuite == 0:
		return configErr("CipherSuite", "0 has no authentication")
	case !knownCipherSuite(c.CipherSuite):
		return configErr("CipherSuite", fmt.Sprintf("%d is not supported", c.CipherSuite))
	case c.ExchangeTimeout <= 0:
		return configErr("ExchangeTimeout", "must be positive")
	case c.Retries < 0 || c.Retries > 10:
		return configErr("Retries", "must be 0 to 10")
	case c.OffTimeout < c.ExchangeTimeout:
		return configErr("OffTimeout", "shorter than ExchangeTimeout")
	case c.OnTimeout < c.ExchangeTimeout:
		return configErr("OnTimeout", "shorter than ExchangeTimeout")
	case c.PollInterval <= 0:
		return configErr("PollInterval", "must be positive")
	case c.PollInterval >= c.OffTimeout:
		return configErr("PollInterval", "not shorter than OffTimeout: Off could read the power only once")
	case c.PowerWait < 0:
		return configErr("PowerWait", "must not be negative")
	case c.PowerWait+c.PollInterval >= c.OffTimeout:
		return configErr("PowerWait", "plus PollInterval not shorter than OffTimeout: Off could never verify")
	}
	return nil
}

func knownCipherSuite(id int) bool {
	if id < 0 || id > 255 {
		return false
	}
	_, _, _, ok := types.GetCipherSuiteAlgorithms(types.CipherSuiteID(id))
	return ok
}

// String shows the config without the password.
func (c Config) String() string {
	return fmt.Sprintf("ipmi.Config{Address:%q Port:%d Username:%q Password:%s Privilege:%s CipherSuite:%d "+
		"ExchangeTimeout:%v Retries:%d OffTimeout:%v OnTimeout:%v PollInterval:%v PowerWait:%v}",
		c.Address, c.Port, c.Username, fence.Redacted(c.Password), c.Privilege, c.CipherSuite,
		c.ExchangeTimeout, c.Retries, c.OffTimeout, c.OnTimeout, c.PollInterval, c.PowerWait)
}

// GoString keeps %#v from printing the password.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.Int("port", c.Port),
		slog.String("username", c.Username),
		slog.String("password", fence.Redacted(c.Password)),
		slog.String("privilege", string(c.Privilege)),
		slog.Int("cipher_suite", c.CipherSuite),
		slog.Duration("exchange_timeout", c.ExchangeTimeout),
		slog.Int("retries", c.Retries),
		slog.Duration("off_timeout", c.OffTimeout),
		slog.Duration("on_timeout", c.OnTimeout),
		slog.Duration("poll_interval", c.PollInterval),
		slog.Duration("power_wait", c.PowerWait),
	)
}
