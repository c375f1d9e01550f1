package ipmisim

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"
)

// Ports BMCs are given when Config.Port is 0.
const (
	FirstPort = 9600
	LastPort  = 9699
)

// Config describes one simulated BMC.
type Config struct {
	// Namespace is the host network namespace whose power the BMC controls.
	// It must exist.
	Namespace string
	// Dir receives the runtime files (ipmi_sim config and state, the
	// chassis_control script, logs), in a subdirectory named after
	// Namespace. Give t.TempDir(). It must not contain spaces or shell
	// metacharacters: ipmi_sim runs the chassis_control line through a shell.
	Dir string
	// Port is the UDP port on 127.0.0.1; 0 picks a free one in
	// FirstPort..LastPort.
	Port int
	// ListenNamespace, when set, is the network namespace whose loopback
	// the BMC listens on (127.0.0.1 there), instead of the root
	// namespace's: a controller running inside a lab namespace reaches
	// its hosts' BMCs there, as a real one reaches them on a management
	// network. It must exist and have its loopback up (netns labs do).
	ListenNamespace string
	// Username of the BMC's user (IPMI user 2).
	Username string
	// Privilege is that user's highest privilege: "admin" (default) or
	// "operator" (enough for chassis control, not for administration).
	Privilege string
	// Password of that user; "" makes Start pick a random one (read it back
	// with BMC.Password).
	Password string
	// HostCommand is what "power on" runs inside the namespace: the host's
	// stand-in for nova-compute and its guests. It must keep running.
	HostCommand []string
	// StartTimeout bounds how long Start waits for ipmi_sim to listen.
	StartTimeout time.Duration
}

// DefaultConfig is a BMC for namespace with runtime files under dir: user
// admin with a random password, a free port, and `sleep infinity` as the
// host.
func DefaultConfig(namespace, dir string) Config {
	return Config{
		Namespace:    namespace,
		Dir:          dir,
		Username:     "admin",
		Privilege:    "admin",
		HostCommand:  []string{"sleep", "infinity"},
		StartTimeout: 5 * time.Second, // ipmi_sim listens after ~10 ms
	}
}

var (
	namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	dirRE       = regexp.MustCompile(`^[A-Za-z0-9_./+-]+$`)
	usernameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,16}$`)
	// passwordRE keeps the password printable, unquoted in lan.conf and
	// within IPMI 1.5's 16 bytes.
	passwordRE = regexp.MustCompile(`^[A-Za-z0-9_.,:@%+=-]{1,16}$`)
)

// Validate reports the first problem with c. Its errors never contain the
// password.
func (c Config) Validate() error {
	if !namespaceRE.MatchString(c.Namespace) {
		return fmt.Errorf("ipmisim: namespace %q must match %s", c.Namespace, namespaceRE)
	}
	if !filepath.IsAbs(c.Dir) || !dirRE.MatchString(c.Dir) {
		return fmt.Errorf("ipmisim: dir %q must be an absolute path matching %s", c.Dir, dirRE)
	}
	if c.ListenNamespace != "" && !namespaceRE.MatchString(c.ListenNamespace) {
		return fmt.Errorf("ipmisim: listen namespace %q must match %s", c.ListenNamespace, namespaceRE)
	}
	if c.Port != 0 && (c.Port < 1024 || c.Port > 65535) {
		return fmt.Errorf("ipmisim: port %d must be 0 (pick one) or 1024 to 65535", c.Port)
	}
	if !usernameRE.MatchString(c.Username) {
		return fmt.Errorf("ipmisim: username %q must match %s", c.Username, usernameRE)
	}
	if c.Privilege != "admin" && c.Privilege != "operator" {
		return fmt.Errorf("ipmisim: privilege %q must be admin or operator", c.Privilege)
	}
	if c.Password != "" && !passwordRE.MatchString(c.Password) {
		return fmt.Errorf("ipmisim: password must match %s", passwordRE)
	}
	if len(c.HostCommand) == 0 || c.HostCommand[0] == "" {
		return errors.New("ipmisim: host command is empty")
	}
	if c.StartTimeout <= 0 {
		return fmt.Errorf("ipmisim: start timeout %s must be positive", c.StartTimeout)
	}
	return nil
}
