package config

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Controller is what `vigil controller` needs beyond the cluster's rules:
// where it keeps its state, its store, how it reaches Nova and the storage
// heartbeats, and each controller's own addresses (members). Every
// controller reads the same file and finds itself among the members by
// name. The section is optional for the other commands.
type Controller struct {
	// Mode is active (fence and evacuate) or shadow (decide, journal and
	// log what would be done, touch nothing: how vigil is rolled out).
	Mode string `yaml:"mode"` // default active
	// DataDir keeps the embedded etcd (when etcd.endpoints is empty).
	DataDir string `yaml:"data_dir"` // default /var/lib/vigil
	// Secrets is the cluster secret file (vigil keys new): agent traffic
	// is authenticated with keys derived from it.
	Secrets string `yaml:"secrets"` // default /etc/vigil/cluster.secret
	// Members are the controllers, one entry each.
	Members   []Member            `yaml:"members"`
	Etcd      Etcd                `yaml:"etcd"`
	Nova      Nova                `yaml:"nova"`
	Heartbeat ControllerHeartbeat `yaml:"heartbeat"`
	API       API                 `yaml:"api"`
	Webhook   Webhook             `yaml:"webhook"`
}

// Webhook is where the leader posts every host state change and alert
// (JSON, signed with HMAC-SHA256 of the secret; docs/controller.md).
type Webhook struct {
	URL        string `yaml:"url,omitempty"`
	SecretFile string `yaml:"secret_file,omitempty"`
}

// Member is one controller.
type Member struct {
	// Name picks the entry (vigil controller --name; default the
	// machine's host name).
	Name string `yaml:"name"`
	// Listen maps each network of networks to this controller's address
	// and port on it, the address the agents' networks[].controllers name.
	Listen map[string]string `yaml:"listen"`
	// API is the address and port of the operators' HTTP API.
	API string `yaml:"api"` // default 127.0.0.1:7421
}

// Etcd is the controllers' store. Without endpoints every controller runs
// an embedded single-node etcd in data_dir: a lab or a single controller
// only, since three such stores are three leaders.
type Etcd struct {
	Endpoints []string `yaml:"endpoints,omitempty"`
	// CA, Cert and Key are the TLS client certificate files (Kolla-Ansible
	// deploys its etcd with TLS); all three or none.
	CA   string `yaml:"ca,omitempty"`
	Cert string `yaml:"cert,omitempty"`
	Key  string `yaml:"key,omitempty"`
	// Prefix is where vigil's keys live.
	Prefix string `yaml:"prefix"` // default /vigil/
	// LeaseTTL is the leader's lease, whole seconds: a leader that stalls
	// longer than this is replaced, and stops acting before it can be.
	LeaseTTL Duration `yaml:"lease_ttl"` // default 5s
}

// Nova is how the controllers reach Nova.
type Nova struct {
	// Cloud names the clouds.yaml entry to use (like OS_CLOUD); empty: the
	// OS_* variables of the controller's environment.
	Cloud string `yaml:"cloud,omitempty"`
	// Every is how often Nova's services and servers are read.
	Every Duration `yaml:"every"` // default 5s
}

// ControllerHeartbeat is where the agents' storage heartbeats are read:
// the same place their heartbeat section names.
type ControllerHeartbeat struct {
	Dir      string `yaml:"dir,omitempty"`
	Pool     string `yaml:"pool,omitempty"`
	CephConf string `yaml:"ceph_conf,omitempty"` // default /etc/ceph/ceph.conf
	CephUser string `yaml:"ceph_user,omitempty"` // default vigil-controller
	// Every is how often all of them are read, in one pass.
	Every Duration `yaml:"every"` // default 1s
}

// API is the operators' HTTP API.
type API struct {
	// TLSCert and TLSKey serve the API over TLS; both or none. Without
	// them the API listens only on a loopback address.
	TLSCert string `yaml:"tls_cert,omitempty"`
	TLSKey  string `yaml:"tls_key,omitempty"`
	// ReaderTokens and OperatorTokens are files of bearer tokens, one per
	// line: readers see, operators also act (maintenance, confirm).
	ReaderTokens   string `yaml:"reader_tokens,omitempty"`
	OperatorTokens string `yaml:"operator_tokens,omitempty"`
}

// DefaultAPI is a member's API address when it gives none.
const DefaultAPI = "127.0.0.1:7421"

func defaultController() Controller {
	return Controller{
		Mode:      "active",
		DataDir:   "/var/lib/vigil",
		Secrets:   "/etc/vigil/cluster.secret",
		Etcd:      Etcd{Prefix: "/vigil/", LeaseTTL: sec(5)},
		Nova:      Nova{Every: sec(5)},
		Heartbeat: ControllerHeartbeat{Every: sec(1)},
	}
}

// Member returns the controller member called name, with its defaults.
func (c Config) Member(name string) (Member, error) {
	for _, m := range c.Controller.Members {
		if m.Name == name {
			if m.API == "" {
				m.API = DefaultAPI
			}
			return m, nil
		}
	}
	var names []string
	for _, m := range c.Controller.Members {
		names = append(names, m.Name)
	}
	if len(names) == 0 {
		return Member{}, invalid("controller.members", "none: list each controller with its name and its listen address on every network (docs/configuration.md)")
	}
	return Member{}, invalid("controller.members", "no member is called %q (members: %s); pass --name, or add it", name, strings.Join(names, ", "))
}

func (c Config) checkController() error {
	k := c.Controller
	switch k.Mode {
	case "active", "shadow":
	default:
		return invalid("controller.mode", "%q: want active or shadow", k.Mode)
	}
	if !filepath.IsAbs(k.DataDir) {
		return invalid("controller.data_dir", "%q is not an absolute path", k.DataDir)
	}
	if !filepath.IsAbs(k.Secrets) {
		return invalid("controller.secrets", "%q is not an absolute path (the cluster secret file: vigil keys new)", k.Secrets)
	}
	seen := map[string]bool{}
	addrs := map[string]string{}
	for i, m := range k.Members {
		p := "controller.members[" + strconv.Itoa(i) + "]"
		if !hostRE.MatchString(m.Name) {
			return invalid(p+".name", "%q is not a controller name (a host name)", m.Name)
		}
		if seen[m.Name] {
			return invalid(p+".name", "%q is listed twice", m.Name)
		}
		seen[m.Name] = true
		for _, n := range sortedKeys(m.Listen) {
			if !slices.Contains(c.Networks, n) {
				return invalid(p+".listen."+n, "%q is not one of networks (%s)", n, strings.Join(c.Networks, ", "))
			}
			ap, err := netip.ParseAddrPort(m.Listen[n])
			if err != nil || ap.Addr().IsUnspecified() {
				return invalid(p+".listen."+n, "%q: want this controller's own address and port on %s, e.g. 10.0.0.1:7400 (not 0.0.0.0: replies leave from it)", m.Listen[n], n)
			}
			if other, dup := addrs[m.Listen[n]]; dup {
				return invalid(p+".listen."+n, "%s is also %s's address", m.Listen[n], other)
			}
			addrs[m.Listen[n]] = m.Name + " on " + n
		}
		for _, n := range c.Networks {
			if _, ok := m.Listen[n]; !ok {
				return invalid(p+".listen", "no address on network %q: the agents report on every network, and a controller deaf on one sees every host cut there", n)
			}
		}
		if m.API != "" {
			ap, err := netip.ParseAddrPort(m.API)
			if err != nil {
				return invalid(p+".api", "%q: want ip:port, e.g. %s", m.API, DefaultAPI)
			}
			if !ap.Addr().IsLoopback() && (k.API.TLSCert == "" || k.API.ReaderTokens == "" && k.API.OperatorTokens == "") {
				return invalid(p+".api", "%s is not a loopback address: set controller.api.tls_cert, tls_key and the token files, or listen on 127.0.0.1", m.API)
			}
		}
	}
	e := k.Etcd
	if n := len(slices.DeleteFunc([]string{e.CA, e.Cert, e.Key}, func(s string) bool { return s == "" })); n != 0 && n != 3 {
		return invalid("controller.etcd", "give ca, cert and key together (the etcd client certificate), or none")
	}
	for i, ep := range e.Endpoints {
		if !strings.HasPrefix(ep, "https://") && !strings.HasPrefix(ep, "http://") {
			return invalid("controller.etcd.endpoints["+strconv.Itoa(i)+"]", "%q: want a URL, e.g. https://10.0.0.1:2379", ep)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
		return invalid("controller.etcd.prefix", "%q: want a key prefix that starts and ends with /, e.g. /vigil/", e.Prefix)
	}
	if t := e.LeaseTTL.Std(); t < 2*sec(1).Std() || t%sec(1).Std() != 0 {
		return invalid("controller.etcd.lease_ttl", "%v: etcd leases take whole seconds, at least 2s", t)
	}
	if k.Nova.Every <= 0 {
		return invalid("controller.nova.every", "must be a positive duration, got %v", k.Nova.Every)
	}
	switch hb := k.Heartbeat; {
	case hb.Dir != "" && hb.Pool != "":
		return invalid("controller.heartbeat", "give one of dir or pool, not both (the place the agents' heartbeat section names)")
	case hb.Dir != "" && !filepath.IsAbs(hb.Dir):
		return invalid("controller.heartbeat.dir", "%q is not an absolute path", hb.Dir)
	case hb.Every <= 0:
		return invalid("controller.heartbeat.every", "must be a positive duration, got %v", hb.Every)
	case hb.Every > c.Detection.StorageTimeout/2:
		return invalid("controller.heartbeat.every", "%v is more than half detection.storage_timeout (%v): a heartbeat would look stalled between two reads", hb.Every, c.Detection.StorageTimeout)
	}
	switch w := k.Webhook; {
	case w.URL == "" && w.SecretFile == "":
	case !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://"):
		return invalid("controller.webhook.url", "%q: want an http or https URL", w.URL)
	case !filepath.IsAbs(w.SecretFile):
		return invalid("controller.webhook.secret_file", "%q: want the absolute path of the file holding the shared secret the deliveries are signed with (openssl rand -hex 32 > FILE)", w.SecretFile)
	}
	a := k.API
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return invalid("controller.api", "give tls_cert and tls_key together, or neither")
	}
	return nil
}
