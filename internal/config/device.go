package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Driver names a kind of fence device.
const (
	DriverIPMI          = "ipmi"
	DriverRedfish       = "redfish"
	DriverFenceAgent    = "fence-agent"
	DriverCephBlocklist = "ceph-blocklist"
	DriverKdump         = "kdump"
)

// Defaults filled in by Levels when a device leaves the key out.
const (
	DefaultIPMIPort      = 623
	DefaultIPMICipher    = 3          // SHA1 authentication and integrity, AES-128 encryption
	DefaultIPMIPrivilege = "operator" // enough for chassis control (IPMI 2.0 table G-1)
	DefaultRedfishPort   = 443
	DefaultCephConf      = "/etc/ceph/ceph.conf"
	DefaultCephUser      = "vigil-fence"
	DefaultCephExpiry    = Duration(24 * 3600_000_000_000) // 24h
	DefaultKdumpListen   = "0.0.0.0:7410"                  // fence_kdump's port, every IPv4 address
)

// Device is one fence device of a level. Which keys apply depends on Driver;
// a key that does not apply is an error, so a typo cannot be silently ignored.
type Device struct {
	// Driver: ipmi | redfish | fence-agent | ceph-blocklist | kdump.
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
	// Privilege is the IPMI session's privilege level (ipmi): operator
	// (enough for chassis power control) or administrator. Default operator.
	Privilege string `yaml:"privilege,omitempty"`

	// PowerWait is how long the power must read back the wanted state, on
	// consecutive reads, before the fence counts (ipmi, redfish,
	// fence-agent). Default 2s, fence_ipmilan's power_wait.
	PowerWait Duration `yaml:"power_wait,omitempty"`

	// Endpoint is the Redfish service URL (redfish). Default the host's
	// bmc.endpoint, then https://address[:port].
	Endpoint string `yaml:"endpoint,omitempty"`
	// Insecure skips TLS certificate verification (redfish). Default false.
	Insecure bool `yaml:"insecure,omitempty"`
	// CAFile is a PEM file of the CAs that sign the BMC's certificate
	// (redfish). Default: the system's roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertSHA256 pins the BMC's certificate by its SHA-256 fingerprint
	// (redfish), for self-signed BMC certificates: only that certificate is
	// accepted, whoever signed it.
	CertSHA256 string `yaml:"cert_sha256,omitempty"`
	// AllowHTTP accepts an http:// endpoint (redfish): the password and the
	// power state then cross the network in clear. Default false.
	AllowHTTP bool `yaml:"allow_http,omitempty"`
	// System is the Redfish ComputerSystem id (redfish). Default: the
	// service's only system; a BMC with several refuses every call, naming
	// them.
	System string `yaml:"system,omitempty"`

	// Agent is the fence agent to run, e.g. fence_ipmilan (fence-agent).
	Agent string `yaml:"agent,omitempty"`
	// Options are extra key=value arguments for the agent (fence-agent).
	Options map[string]string `yaml:"options,omitempty"`
	// SecretFiles are agent options whose values are secrets, each read
	// from a file (fence-agent), e.g. hexadecimal_kg: /etc/vigil/bmc.kg.
	SecretFiles map[string]string `yaml:"secret_files,omitempty"`
	// Kind says what the agent cuts (fence-agent): power (a BMC or PDU),
	// storage (fence_scsi, fence_mpath: the host keeps running) or io (its
	// network or fabric ports). Only power fences are probed afterwards.
	// Default power; agents known not to be power fences must say.
	Kind string `yaml:"kind,omitempty"`

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

	// Listen is the address and port vigil receives fence_kdump messages
	// on (kdump): an IP literal and a port, e.g. 0.0.0.0:7410 or
	// [::]:7410 (IPv4 and IPv6). Default 0.0.0.0:7410.
	Listen string `yaml:"listen,omitempty"`

	// Timeout of one attempt. Default: the driver's own bound (ipmi and
	// redfish 30s, fence-agent 60s, ceph-blocklist 30s, kdump 60s: how
	// long to wait for the host's fence_kdump message).
	Timeout Duration `yaml:"timeout,omitempty"`
	// Retries of a failed attempt within the level. Default 0.
	Retries int `yaml:"retries,omitempty"`

	// StorageIPs are the addresses to blocklist (ceph-blocklist). They are
	// not written in a device: Levels fills them from the host's storage_ips.
	StorageIPs []string `yaml:"-"`
	// KdumpIPs are the addresses a kdump device accepts messages from.
	// Levels fills them from the host's kdump_ips.
	KdumpIPs []string `yaml:"-"`
}

// IsPowerFence reports whether d cuts the host's power: an ipmi or redfish
// device, or a fence-agent device of kind power (the default).
func (d Device) IsPowerFence() bool {
	return d.Driver == DriverIPMI || d.Driver == DriverRedfish ||
		(d.Driver == DriverFenceAgent && (d.Kind == "" || d.Kind == KindPower))
}

// IsStorageFence reports whether d keeps the host's guests off their disks
// while the host may still run: a ceph-blocklist device, or a fence-agent
// device of kind storage.
func (d Device) IsStorageFence() bool {
	return d.Driver == DriverCephBlocklist || (d.Driver == DriverFenceAgent && d.Kind == KindStorage)
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
	add("kind", d.Kind)
	for _, k := range sortedKeys(d.Options) {
		add("options."+k, redactOption(k, d.Options[k]))
	}
	for _, k := range sortedKeys(d.SecretFiles) {
		add("secret_files."+k, d.SecretFiles[k]) // a path, not the secret
	}
	add("ca_file", d.CAFile)
	add("cert_sha256", d.CertSHA256)
	add("ceph_user", d.CephUser)
	add("storage_ips", strings.Join(d.StorageIPs, ","))
	add("listen", d.Listen)
	add("kdump_ips", strings.Join(d.KdumpIPs, ","))
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

// SecretOptionValues reads the device's secret_files: option name to
// value (one trailing newline removed). Errors name the file, never its
// content.
func (d Device) SecretOptionValues(readFile func(string) ([]byte, error)) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range sortedKeys(d.SecretFiles) {
		b, err := readFile(d.SecretFiles[k])
		if err != nil {
			return nil, fmt.Errorf("config: secret_files.%s %s: %w", k, d.SecretFiles[k], err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" || strings.ContainsAny(v, "\x00\r\n") {
			return nil, invalid("secret_files."+k, "%s must hold one non-empty line", d.SecretFiles[k])
		}
		out[k] = v
	}
	return out, nil
}

// SecretOptions are the fence agent options that carry a secret, from
// fence-agents' fencing.py and the agents (fence_ipmilan's hexadecimal_kg is
// the BMC key K_g). It is the one list the configuration checks (such an
// option is never accepted inline), String and Redacted (and so --dry-run)
// mask, and secret_files accepts.
var SecretOptions = []string{
	"password", "passwd", "hexadecimal_kg", "kg", "snmp_priv_passwd", "snmp_auth_passwd",
	"community", "api_key", "token", "secret",
}

// secretWords catch options outside SecretOptions that look like one.
var secretWords = []string{"passw", "secret", "community", "token", "private", "priv_", "_key", "apikey", "_kg"}

// SecretOption reports whether an agent option carries a secret.
func SecretOption(key string) bool {
	k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	if slices.Contains(SecretOptions, k) {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redactOption(key, value string) string {
	if SecretOption(key) {
		return "<redacted>"
	}
	return value
}
