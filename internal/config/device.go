package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Driver names a kind of fence device.
const (
	DriverIPMI          = "ipmi"
	DriverRedfish       = "redfish"
	DriverFenceAgent    = "fence-agent"
	DriverCephBlocklist = "ceph-blocklist"
)

// Defaults filled in by Levels when a device leaves the key out.
const (
	DefaultIPMIPort      = 623
	DefaultIPMICipher    = 3 // SHA1 authentication and integrity, AES-128 encryption
	DefaultRedfishPort   = 443
	DefaultDeviceTimeout = Duration(20_000_000_000) // 20s per attempt
	DefaultCephConf      = "/etc/ceph/ceph.conf"
	DefaultCephUser      = "vigil-fence"
	DefaultCephExpiry    = Duration(24 * 3600_000_000_000) // 24h
)

// Device is one fence device of a level. Which keys apply depends on Driver;
// a key that does not apply is an error, so a typo cannot be silently ignored.
type Device struct {
	// Driver: ipmi | redfish | fence-agent | ceph-blocklist.
	Driver string `yaml:"driver"`

	// Address and Port of the BMC (ipmi, redfish, fence-agent). Default: the
	// host's bmc.address and bmc.port, then the driver's port.
	Address string `yaml:"address,omitempty"`
	Port    int    `yaml:"port,omitempty"`

	// Username and a reference to the password: a file holding it, or the
	// name of an environment variable of the vigil process. Never the
	// password itself.
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty"`

	// Cipher is the IPMI 2.0 cipher suite (ipmi): 3 or 17. Default 3.
	Cipher int `yaml:"cipher,omitempty"`

	// Endpoint is the Redfish service URL (redfish). Default the host's
	// bmc.endpoint, then https://address[:port].
	Endpoint string `yaml:"endpoint,omitempty"`
	// Insecure skips TLS certificate verification (redfish). Default false.
	Insecure bool `yaml:"insecure,omitempty"`
	// System is the Redfish ComputerSystem id (redfish). Default: the
	// service's only system.
	System string `yaml:"system,omitempty"`

	// Agent is the fence agent to run, e.g. fence_ipmilan (fence-agent).
	Agent string `yaml:"agent,omitempty"`
	// Options are extra key=value arguments for the agent (fence-agent).
	Options map[string]string `yaml:"options,omitempty"`

	// CephConf, CephUser: how to reach the Ceph cluster (ceph-blocklist).
	// Defaults /etc/ceph/ceph.conf and vigil-fence (a user with only the
	// caps a fence needs: docs/fencing.md).
	CephConf string `yaml:"ceph_conf,omitempty"`
	CephUser string `yaml:"ceph_user,omitempty"`
	// Expiry of the blocklist entries (ceph-blocklist). Default 24h, at
	// least 1h: an entry must outlive any chance of the host writing again.
	Expiry Duration `yaml:"expiry,omitempty"`
	// Pool holding the host's instance disks, Nova's images_rbd_pool
	// (ceph-blocklist): an instance's disk is POOL/<uuid>_disk. Without a
	// known instance list every image of the pool is read once. Default:
	// none (the fence then proves only the OSDs of every pool enforce it).
	Pool string `yaml:"pool,omitempty"`

	// Timeout of one attempt. Default 20s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Retries of a failed attempt within the level. Default 0.
	Retries int `yaml:"retries,omitempty"`

	// StorageIPs are the addresses to blocklist (ceph-blocklist). They are
	// not written in a device: Levels fills them from the host's storage_ips.
	StorageIPs []string `yaml:"-"`
}

// String describes the device without any secret: only the references.
func (d Device) String() string {
	var b strings.Builder
	b.WriteString(d.Driver)
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	add("address", d.Address)
	if d.Port != 0 {
		add("port", strconv.Itoa(d.Port))
	}
	add("endpoint", d.Endpoint)
	add("username", d.Username)
	add("password_file", d.PasswordFile)
	add("password_env", d.PasswordEnv)
	add("agent", d.Agent)
	keys := make([]string, 0, len(d.Options))
	for k := range d.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("options."+k, redactOption(k, d.Options[k]))
	}
	add("ceph_user", d.CephUser)
	add("storage_ips", strings.Join(d.StorageIPs, ","))
	return b.String()
}

// Secret resolves the device's password from its reference: the content of
// password_file (one trailing newline removed) or the value of the
// environment variable named by password_env. It returns "" and no error
// when the device has no password reference. getenv and readFile are
// os.Getenv and os.ReadFile in main; errors name the reference, never the
// secret.
func (d Device) Secret(getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	switch {
	case d.PasswordFile != "" && d.PasswordEnv != "":
		return "", invalid("password_file", "both password_file and password_env are set; keep one")
	case d.PasswordFile != "":
		b, err := readFile(d.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("config: password_file %s: %w", d.PasswordFile, err)
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s == "" {
			return "", invalid("password_file", "%s is empty", d.PasswordFile)
		}
		return s, nil
	case d.PasswordEnv != "":
		s := getenv(d.PasswordEnv)
		if s == "" {
			return "", invalid("password_env", "environment variable %s is unset or empty", d.PasswordEnv)
		}
		return s, nil
	}
	return "", nil
}

// secretWords mark option keys that would carry a secret inline.
var secretWords = []string{"passw", "secret", "community", "token", "private", "priv_", "_key", "apikey"}

func secretOption(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redactOption(key, value string) string {
	if secretOption(key) {
		return "<redacted>"
	}
	return value
}
