package agent

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-ha/vigil/internal/fence"
)

// ErrInvalidConfig is wrapped by every error of Validate.
var ErrInvalidConfig = fence.ErrInvalidConfig

// ConfigError names the Config field that is wrong (fence.ConfigError).
type ConfigError = fence.ConfigError

func configErr(field, reason string) error {
	return &fence.ConfigError{Driver: "agent", Field: field, Reason: reason}
}

// Config describes which fence agent to run, against what, and how
// patiently.
type Config struct {
	// Agent is the fence agent's file name, matching fence_[a-z0-9_]+.
	Agent string
	// Dir is the directory holding Agent; "" searches PATH.
	Dir string
	// Address, Port and Username become the ip, ipport and username lines;
	// empty or 0 leaves them out (the agent's default applies).
	Address  string
	Port     int
	Username string
	// Password becomes the password line on the agent's stdin, and goes
	// nowhere else. The caller supplies it; it is never logged, never part
	// of an error and never shown by String.
	Password string
	// Lanplus sends lanplus=1 (IPMI agents: use IPMI 2.0 RMCP+).
	Lanplus bool
	// CipherSuite sends cipher=N (IPMI agents); 0 leaves it out.
	CipherSuite int
	// Options are further key=value lines, such as method=cycle or
	// power_timeout=30. They may not repeat the fields above or action.
	// Values are one word: agents hand them on to helpers (ipmitool, ssh,
	// snmpget), where a space would add an argument.
	Options map[string]string
	// Secrets are option lines whose values are secrets (fence_ipmilan's
	// hexadecimal_kg): like Password, they go to the agent's stdin only, are
	// cut out of its output and never shown.
	Secrets map[string]string
	// RunTimeout bounds one run of the agent; a run still going then is
	// killed and reported as fence.ErrUnreachable. Default 30 s:
	// fence-agents give a power change 20 s (--power-timeout) and report
	// their own timeout first.
	RunTimeout time.Duration
	// OffTimeout bounds Off: the off run and the status runs that verify it.
	// Default 60 s.
	OffTimeout time.Duration
	// OnTimeout bounds On likewise. Default 60 s.
	OnTimeout time.Duration
	// PollInterval is the pause between status runs while verifying.
	// Default 1 s: each run starts an interpreter and a session with the
	// device, and fence_ipmilan's off has already waited for the power.
	PollInterval time.Duration
	// PowerWait is how long status must report the wanted state, on
	// consecutive runs, before Off or On believes it (fence.PowerCheck).
	// Default fence.DefaultPowerWait (2 s).
	PowerWait time.Duration
}

// DefaultConfig returns a Config with every timing set to its default and
// no agent, address or credentials.
func DefaultConfig() Config {
	return Config{
		RunTimeout:   30 * time.Second,
		OffTimeout:   60 * time.Second,
		OnTimeout:    60 * time.Second,
		PollInterval: time.Second,
		PowerWait:    fence.DefaultPowerWait,
	}
}

// DefaultIPMILanConfig is DefaultConfig for fence_ipmilan over IPMI 2.0
// with cipher suite 3 (without it ipmitool spends 10 s probing suites).
func DefaultIPMILanConfig() Config {
	c := DefaultConfig()
	c.Agent = "fence_ipmilan"
	c.Lanplus = true
	c.CipherSuite = 3
	return c
}

var (
	agentRE  = regexp.MustCompile(`^fence_[a-z0-9_]+$`)
	optionRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
)

// reserved are the stdin keys the typed fields and the driver send, with
// the aliases fencing.py maps to them.
var reserved = []string{"action", "option", "ip", "ipaddr", "ipport", "username", "login",
	"password", "passwd", "lanplus", "cipher"}

// Validate reports the first field that cannot work, as a *ConfigError. It
// also checks that the agent exists and is executable.
func (c Config) Validate() error {
	if !agentRE.MatchString(c.Agent) {
		return configErr("Agent", "must match "+agentRE.String())
	}
	if _, err := c.agentPath(); err != nil {
		return err
	}
	if !safeValue(c.Password) {
		return configErr("Password", "contains a line break or NUL")
	}
	for _, f := range []struct{ name, v string }{{"Address", c.Address}, {"Username", c.Username}} {
		if !oneWord(f.v) {
			return configErr(f.name, "contains a space or a control character")
		}
	}
	if strings.TrimSpace(c.Password) != c.Password || (len(c.Password) >= 2 && c.Password[0] == '"' && c.Password[len(c.Password)-1] == '"') {
		// fencing.py strips each stdin line and one pair of surrounding
		// double quotes: such a password would arrive changed.
		return configErr("Password", "has surrounding spaces or double quotes, which fence agents strip from stdin")
	}
	for _, k := range slices.Sorted(maps.Keys(c.Options)) {
		switch {
		case !optionRE.MatchString(k):
			return configErr("Options", fmt.Sprintf("key %q must match %s", k, optionRE))
		case slices.Contains(reserved, strings.ReplaceAll(k, "-", "_")):
			return configErr("Options", fmt.Sprintf("key %q is set by the driver or a Config field", k))
		case !oneWord(c.Options[k]):
			return configErr("Options", fmt.Sprintf("value of %q contains a space or a control character", k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Secrets)) {
		_, dup := c.Options[k]
		switch {
		case !optionRE.MatchString(k):
			return configErr("Secrets", fmt.Sprintf("key %q must match %s", k, optionRE))
		case dup || slices.Contains(reserved, strings.ReplaceAll(k, "-", "_")):
			return configErr("Secrets", fmt.Sprintf("key %q is set by the driver, a Config field or Options", k))
		case c.Secrets[k] == "" || !safeValue(c.Secrets[k]) || strings.TrimSpace(c.Secrets[k]) != c.Secrets[k]:
			return configErr("Secrets", fmt.Sprintf("value of %q is empty, has surrounding spaces or a line break", k))
		}
	}
	switch {
	case c.Port < 0 || c.Port > 65535:
		return configErr("Port", "must be 0 (agent default) or 1 to 65535")
	case c.CipherSuite < 0 || c.CipherSuite > 255:
		return configErr("CipherSuite", "must be 0 (agent default) or a cipher suite ID")
	case c.RunTimeout <= 0:
		return configErr("RunTimeout", "must be positive")
	case c.OffTimeout < c.RunTimeout:
		return configErr("OffTimeout", "shorter than RunTimeout")
	case c.OnTimeout < c.RunTimeout:
		return configErr("OnTimeout", "shorter than RunTimeout")
	case c.PollInterval <= 0:
		return configErr("PollInterval", "must be positive")
	case c.PollInterval >= c.OffTimeout:
		return configErr("PollInterval", "not shorter than OffTimeout: Off could run status only once")
	case c.PowerWait < 0:
		return configErr("PowerWait", "must not be negative")
	case c.PowerWait+c.PollInterval >= c.OffTimeout:
		return configErr("PowerWait", "plus PollInterval not shorter than OffTimeout: Off could never verify")
	}
	return nil
}

// safeValue reports whether v fits on one stdin line.
func safeValue(v string) bool {
	return !strings.ContainsAny(v, "\n\r\x00")
}

// oneWord reports whether v has no space and no control character.
func oneWord(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// agentPath finds the agent: in Dir if set, else in PATH.
func (c Config) agentPath() (string, error) {
	if c.Dir == "" {
		p, err := exec.LookPath(c.Agent)
		if err != nil {
			return "", configErr("Agent", c.Agent+" not found in PATH (install fence-agents)")
		}
		return p, nil
	}
	if !filepath.IsAbs(c.Dir) {
		return "", configErr("Dir", "must be an absolute path")
	}
	p := filepath.Join(c.Dir, c.Agent)
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return "", configErr("Agent", c.Agent+" not found in "+c.Dir)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return "", configErr("Agent", p+" is not an executable file")
	}
	return p, nil
}

// String shows the config without the password or option values (options
// such as snmp_priv_passwd hold secrets too).
func (c Config) String() string {
	return fmt.Sprintf("agent.Config{Agent:%q Dir:%q Address:%q Port:%d Username:%q Password:%s Lanplus:%t "+
		"CipherSuite:%d Options:%v Secrets:%v RunTimeout:%v OffTimeout:%v OnTimeout:%v PollInterval:%v PowerWait:%v}",
		c.Agent, c.Dir, c.Address, c.Port, c.Username, fence.Redacted(c.Password), c.Lanplus,
		c.CipherSuite, slices.Sorted(maps.Keys(c.Options)), slices.Sorted(maps.Keys(c.Secrets)), c.RunTimeout, c.OffTimeout, c.OnTimeout, c.PollInterval, c.PowerWait)
}

// GoString keeps %#v from printing the password.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("agent", c.Agent),
		slog.String("dir", c.Dir),
		slog.String("address", c.Address),
		slog.Int("port", c.Port),
		slog.String("username", c.Username),
		slog.String("password", fence.Redacted(c.Password)),
		slog.Bool("lanplus", c.Lanplus),
		slog.Int("cipher_suite", c.CipherSuite),
		slog.Any("options", slices.Sorted(maps.Keys(c.Options))),
		slog.Any("secrets", slices.Sorted(maps.Keys(c.Secrets))),
		slog.Duration("run_timeout", c.RunTimeout),
		slog.Duration("off_timeout", c.OffTimeout),
		slog.Duration("on_timeout", c.OnTimeout),
		slog.Duration("poll_interval", c.PollInterval),
		slog.Duration("power_wait", c.PowerWait),
	)
}
