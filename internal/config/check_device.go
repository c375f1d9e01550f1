package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)                // networks, domains
	hostRE     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`) // host names, BMC names
	agentRE    = regexp.MustCompile(`^fence_[a-z0-9_]+$`)                              // fence agents
	optionRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)                         // fence agent options
	envRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)                  // environment variables
	idRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)              // Ceph users and pools, Redfish ids
	userRE     = regexp.MustCompile(`^[^\x00-\x1f\x7f]{1,64}$`)                        // BMC user names
	drivers    = []string{DriverIPMI, DriverRedfish, DriverFenceAgent, DriverCephBlocklist, DriverKdump}
	maxTimeout = Duration(10 * time.Minute)
	// maxPowerWait bounds power_wait: a state held for a minute is held.
	maxPowerWait = Duration(time.Minute)
	privileges   = []string{"operator", "administrator"}
	kinds        = []string{KindPower, KindStorage, KindIO}
	minExpiry    = Duration(time.Hour)
)

// applies lists, per driver, the device keys beyond driver, timeout and
// retries that the driver uses.
var applies = map[string][]string{
	DriverIPMI:          {"address", "port", "username", "password_file", "password_env", "cipher", "privilege", "power_wait"},
	DriverRedfish:       {"address", "port", "username", "password_file", "password_env", "endpoint", "insecure", "system", "ca_file", "cert_sha256", "allow_http", "power_wait"},
	DriverFenceAgent:    {"address", "port", "username", "password_file", "password_env", "agent", "options", "secret_files", "kind", "power_wait"},
	DriverCephBlocklist: {"ceph_conf", "ceph_user", "expiry", "pool"},
	DriverKdump:         {"listen"},
}

// reservedOptions are fence agent options vigil sets itself, with the key to
// use instead.
var reservedOptions = map[string]string{
	"action":   "vigil chooses the action (off, on, status) itself",
	"ip":       "use the device's address key (or the host's bmc.address)",
	"ipaddr":   "use the device's address key (or the host's bmc.address)",
	"ipport":   "use the device's port key (or the host's bmc.port)",
	"login":    "use the device's username key",
	"username": "use the device's username key",
	"port":     "use plug for an outlet number, or the device's port key for the TCP port",
}

// Kinds of fence-agent devices.
const (
	KindPower   = "power"
	KindStorage = "storage"
	KindIO      = "io"
)

// notPower are fence agents that do not cut power, with the kind to state:
// after them the host still runs (and answers ping).
var notPower = map[string]string{
	"fence_scsi": KindStorage, "fence_mpath": KindStorage,
	"fence_ifmib": KindIO, "fence_brocade": KindIO, "fence_cisco_mds": KindIO,
}

// notAFence are names that mean a Nova force-down rather than a fence.
var notAFence = map[string]bool{"nova-force-down": true, "force-down": true, "nova": true, "fence_compute": true, "fence_evacuate": true}

const notAFenceMsg = "is not a fence: forcing the compute service down (or evacuating) does not stop the host's guests from writing to their disks. " +
	"vigil forces the service down itself, as a recovery step, only after a verified fence; use ipmi, redfish, fence-agent or ceph-blocklist here"

// set reports which keys of d are written in the file.
func (d Device) set() map[string]bool {
	return map[string]bool{
		"address": d.Address != "", "port": d.Port != 0, "username": d.Username != "",
		"password_file": d.PasswordFile != "", "password_env": d.PasswordEnv != "",
		"cipher": d.Cipher != 0, "endpoint": d.Endpoint != "", "insecure": d.Insecure,
		"system": d.System != "", "agent": d.Agent != "", "options": len(d.Options) > 0,
		"ceph_conf": d.CephConf != "", "ceph_user": d.CephUser != "", "expiry": d.Expiry != 0,
		"pool": d.Pool != "", "privilege": d.Privilege != "", "power_wait": d.PowerWait != 0,
		"ca_file": d.CAFile != "", "cert_sha256": d.CertSHA256 != "", "allow_http": d.AllowHTTP,
		"secret_files": len(d.SecretFiles) > 0, "kind": d.Kind != "", "listen": d.Listen != "",
	}
}

// checkDevice validates what can be checked of a device on its own; path is
// its YAML path, e.g. "fencing.domains.default.levels[0][1]".
func checkDevice(path string, d Device) error {
	at := func(key string) string { return path + "." + key }
	if notAFence[strings.ToLower(d.Driver)] {
		return invalid(at("driver"), "%q %s", d.Driver, notAFenceMsg)
	}
	keys, ok := applies[d.Driver]
	if !ok {
		if d.Driver == "" {
			return invalid(at("driver"), "missing; set one of %s", strings.Join(drivers, ", "))
		}
		return invalid(at("driver"), "unknown driver %q; use one of %s", d.Driver, strings.Join(drivers, ", "))
	}
	allowed := map[string]bool{}
	for _, k := range keys {
		allowed[k] = true
	}
	set := d.set()
	for _, k := range sortedKeys(set) {
		if set[k] && !allowed[k] {
			return invalid(at(k), "not used by the %s driver; remove it (%s uses: %s)", d.Driver, d.Driver, strings.Join(keys, ", "))
		}
	}

	if d.Timeout < 0 || d.Timeout > maxTimeout {
		return invalid(at("timeout"), "%v is out of range; use a positive duration up to %v (default: the driver's own bound)", d.Timeout, maxTimeout)
	}
	if d.Retries < 0 || d.Retries > 10 {
		return invalid(at("retries"), "%d is out of range; use 0 to 10 (level retries come from recovery.fence_retry)", d.Retries)
	}
	if d.PowerWait < 0 || d.PowerWait > maxPowerWait || (d.Timeout != 0 && d.PowerWait >= d.Timeout) {
		return invalid(at("power_wait"), "%v is out of range; use a duration up to %v and shorter than the device's timeout (default %v)", d.PowerWait, maxPowerWait, Duration(2*time.Second))
	}
	if d.Address != "" && !validAddress(d.Address) {
		return invalid(at("address"), "%q is not a host name or IP address; write it without scheme or port, e.g. 10.0.0.11", d.Address)
	}
	if d.Port < 0 || d.Port > 65535 {
		return invalid(at("port"), "%d is not a TCP port (1-65535)", d.Port)
	}
	if err := checkCredentials(path, d); err != nil {
		return err
	}

	switch d.Driver {
	case DriverIPMI:
		if d.Cipher != 0 && d.Cipher != 3 && d.Cipher != 17 {
			return invalid(at("cipher"), "cipher suite %d is not accepted; use 3 (default) or 17, the suites that authenticate and encrypt", d.Cipher)
		}
		if d.Privilege != "" && !slices.Contains(privileges, d.Privilege) {
			return invalid(at("privilege"), "%q is not an IPMI privilege level vigil uses; use operator (default: enough to switch power) or administrator", d.Privilege)
		}
	case DriverRedfish:
		if d.Endpoint != "" {
			if msg := checkEndpoint(d.Endpoint, d.AllowHTTP); msg != "" {
				return invalid(at("endpoint"), "%s", msg)
			}
		}
		if d.System != "" && !idRE.MatchString(d.System) {
			return invalid(at("system"), "%q is not a Redfish system id such as 1 or System.Embedded.1", d.System)
		}
		if d.CAFile != "" && !cleanAbs(d.CAFile) {
			return invalid(at("ca_file"), "%q must be an absolute path, e.g. /etc/vigil/bmc-ca.pem", d.CAFile)
		}
		if d.CertSHA256 != "" && !ValidFingerprint(d.CertSHA256) {
			return invalid(at("cert_sha256"), "not a SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256 -in bmc.pem)")
		}
		if d.Insecure && (d.CAFile != "" || d.CertSHA256 != "") {
			return invalid(at("insecure"), "insecure skips the certificate checks that ca_file and cert_sha256 ask for; remove insecure")
		}
	case DriverFenceAgent:
		if notAFence[d.Agent] {
			return invalid(at("agent"), "%q %s", d.Agent, notAFenceMsg)
		}
		if d.Agent == "fence_kdump" {
			// It has no status action, which the fence-agent driver
			// verifies with; and vigil listens for its messages itself.
			return invalid(at("agent"), "use driver: kdump instead: vigil listens for fence_kdump_send's messages itself (the fence_kdump agent has no status action to verify with); give the host kdump_ips")
		}
		if !agentRE.MatchString(d.Agent) {
			return invalid(at("agent"), "%q is not a fence agent name; it must match fence_[a-z0-9_]+, e.g. fence_ipmilan", d.Agent)
		}
		for _, k := range sortedKeys(d.Options) {
			if err := checkOption(at("options."+k), k, d.Options[k]); err != nil {
				return err
			}
		}
		for _, k := range sortedKeys(d.SecretFiles) {
			p := at("secret_files." + k)
			if why, reserved := reservedOptions[k]; reserved || k == "password" || k == "passwd" {
				if !reserved {
					why = "use password_file"
				}
				return invalid(p, "option %q is set by vigil: %s", k, why)
			}
			if _, dup := d.Options[k]; dup || !optionRE.MatchString(k) {
				return invalid(p, "%q must be an agent option name (lower case letters, digits, _ and -) not also in options", k)
			}
			if !cleanAbs(d.SecretFiles[k]) {
				return invalid(p, "%q must be an absolute path of a file readable only by vigil", d.SecretFiles[k])
			}
		}
		if d.Kind != "" && !slices.Contains(kinds, d.Kind) {
			return invalid(at("kind"), "%q is not a kind of fence; use power (a BMC or PDU cuts the power), storage (fence_scsi, fence_mpath) or io (network or fabric ports)", d.Kind)
		}
		if want, known := notPower[d.Agent]; known && (d.Kind == "" || d.Kind == KindPower) {
			return invalid(at("kind"), "%s is not a power fence: the host keeps running after it, so vigil must not expect it to fall silent; set kind: %s", d.Agent, want)
		}
	case DriverKdump:
		if d.Listen != "" {
			if _, err := KdumpListen(d.Listen); err != nil {
				return invalid(at("listen"), "%v", err)
			}
		}
	case DriverCephBlocklist:
		if d.CephConf != "" && !cleanAbs(d.CephConf) {
			return invalid(at("ceph_conf"), "%q must be an absolute path, e.g. %s", d.CephConf, DefaultCephConf)
		}
		if strings.HasPrefix(d.CephUser, "client.") {
			return invalid(at("ceph_user"), "write the Ceph user id without the client. prefix, e.g. %q", strings.TrimPrefix(d.CephUser, "client."))
		}
		if d.CephUser != "" && !idRE.MatchString(d.CephUser) {
			return invalid(at("ceph_user"), "%q is not a Ceph user id such as vigil-fence", d.CephUser)
		}
		if d.Expiry != 0 && d.Expiry < minExpiry {
			return invalid(at("expiry"), "%v is too short; a blocklist entry must outlive any chance of the host writing again: use at least %v (default %v)", d.Expiry, minExpiry, DefaultCephExpiry)
		}
		if d.Pool != "" && !idRE.MatchString(d.Pool) {
			return invalid(at("pool"), "%q is not a pool name", d.Pool)
		}
	}
	return nil
}

func checkCredentials(path string, d Device) error {
	at := func(key string) string { return path + "." + key }
	if d.PasswordFile != "" && d.PasswordEnv != "" {
		return invalid(at("password_env"), "both password_file and password_env are set; keep one")
	}
	if d.PasswordFile != "" && !cleanAbs(d.PasswordFile) {
		return invalid(at("password_file"), "%q must be an absolute path, e.g. /etc/vigil/bmc.pass", d.PasswordFile)
	}
	if d.PasswordEnv != "" && !envRE.MatchString(d.PasswordEnv) {
		return invalid(at("password_env"), "%q is not an environment variable name such as VIGIL_BMC_PASSWORD", d.PasswordEnv)
	}
	if d.Username != "" && !userRE.MatchString(d.Username) {
		return invalid(at("username"), "must be 1 to 64 printable characters")
	}
	if d.Driver == DriverIPMI || d.Driver == DriverRedfish {
		if d.Username == "" {
			return invalid(at("username"), "missing; the %s driver logs in to the BMC", d.Driver)
		}
		if d.PasswordFile == "" && d.PasswordEnv == "" {
			return invalid(at("password_file"), "missing; the %s driver needs the BMC password: set password_file (a file holding it) or password_env (an environment variable holding it)", d.Driver)
		}
	}
	return nil
}

func checkOption(path, key, value string) error {
	if why, reserved := reservedOptions[key]; reserved {
		return invalid(path, "option %q is set by vigil: %s", key, why)
	}
	if SecretOption(key) {
		return invalid(path, "option %q would hold a secret inline; vigil takes secrets only by reference: put it in a file and list it under secret_files (or use password_file for the password)", key)
	}
	if !optionRE.MatchString(key) {
		return invalid(path, "%q is not a fence agent option name (lower case letters, digits, _ and -)", key)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		// Agents pass options on to helpers (ipmitool, ssh, snmpget): a
		// space would smuggle in an argument of its own.
		return invalid(path, "the value must be one word without spaces or control characters")
	}
	return nil
}

// ValidFingerprint reports whether s is a SHA-256 fingerprint: 64 hex
// digits, optionally in colon-separated pairs.
func ValidFingerprint(s string) bool {
	_, ok := Fingerprint(s)
	return ok
}

// Fingerprint decodes a SHA-256 fingerprint written as hex, with or without
// colons.
func Fingerprint(s string) ([]byte, bool) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	return b, err == nil && len(b) == 32
}

// checkEndpoint returns what is wrong with a Redfish URL, or "".
func checkEndpoint(raw string, allowHTTP bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "not a URL such as https://10.0.0.11"
	case u.User != nil:
		return "must not carry credentials; use username and password_file"
	case u.Scheme == "http" && !allowHTTP:
		return "plain http sends the BMC password and the power state in clear; use https, or set allow_http: true on the device for a lab"
	case u.Scheme != "https" && u.Scheme != "http":
		return "the scheme must be https"
	case u.RawQuery != "" || u.Fragment != "":
		return "must not have a query or fragment"
	}
	return ""
}

func validAddress(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return hostRE.MatchString(s)
}

func cleanAbs(p string) bool {
	return filepath.IsAbs(p) && !strings.ContainsAny(p, "\x00\r\n")
}

// KdumpListen parses a kdump device's listen address: an IP literal and a
// port, no host name and no zone.
func KdumpListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	switch {
	case err != nil:
		return ap, fmt.Errorf("%q is not an IP address and port such as %s or [::]:7410 (a host name is not accepted)", s, DefaultKdumpListen)
	case ap.Port() == 0:
		return ap, fmt.Errorf("%q has port 0; fence_kdump_send sends to 7410 unless told -p", s)
	case ap.Addr().Zone() != "" || ap.Addr().IsMulticast():
		return ap, fmt.Errorf("%q must be a unicast address without a zone; use [::]:%d to listen everywhere", s, ap.Port())
	}
	return ap, nil
}
