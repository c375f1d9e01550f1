package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/config"
)

const topologies = `
fencing:
  domains:
    default:
      levels:
        - [{driver: ipmi, username: admin, password_file: /etc/vigil/bmc.pass}]
        - [{driver: ceph-blocklist}]
    rack2:
      levels:
        - [{driver: redfish, username: rf, password_env: RF}]
        - - {driver: fence-agent, agent: fence_apc_snmp, address: pdu1, options: {plug: "7"}}
          - {driver: ceph-blocklist, ceph_user: vigil, expiry: 48h, pool: vms}
hosts:
  - name: plain
    bmc: {address: 10.0.0.1, port: 6230}
    storage_ips: [10.20.0.1, fd00::1]
  - name: orphan-domain            # rack9 has no entry: falls back to default
    domain: rack9
    bmc: {address: 10.0.0.2}
    storage_ips: [10.20.0.2]
  - name: r2                       # bmc.port is not given to the PDU
    domain: rack2
    bmc: {address: 10.0.1.1, port: 8443}
    storage_ips: [10.20.1.1]
  - name: r2-endpoint
    domain: rack2
    bmc: {address: 10.0.1.2, endpoint: "https://bmc-r2.example.net:8443"}
    storage_ips: [10.20.1.2]
  - name: r2-v6
    domain: rack2
    bmc: {address: "fd00::2"}
    storage_ips: [10.20.1.3]
  - name: dumps                    # its own topology: kdump and blocklist, then power
    bmc: {address: 10.0.2.1}
    storage_ips: [10.20.2.1]
    kdump_ips: [10.0.2.11, fd00::2:11]
    fencing:
      levels:
        - [{driver: kdump, listen: "[::]:7410", timeout: 90s}, {driver: ceph-blocklist}]
        - [{driver: ipmi, username: u, password_env: P}]
  - name: own
    domain: rack2
    bmc: {address: 10.0.1.4}
    fencing:
      levels:
        - [{driver: ipmi, address: 192.168.0.4, port: 16230, cipher: 17, username: u, password_env: P, timeout: 5s, retries: 2}]
        - [{driver: redfish, address: 192.168.0.5, username: u, password_env: P}]
`

func TestLevels(t *testing.T) {
	c := mustParse(t, topologies)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var s20 config.Duration // no timeout: the driver's own bound
	ipmiDefault := func(addr string, port int) config.Device {
		return config.Device{Driver: "ipmi", Address: addr, Port: port, Username: "admin", PasswordFile: "/etc/vigil/bmc.pass", Cipher: 3, Privilege: "operator", Timeout: s20}
	}
	cephDefault := func(ips ...string) config.Device {
		return config.Device{Driver: "ceph-blocklist", CephConf: "/etc/ceph/ceph.conf", CephUser: "vigil-fence", Expiry: dur(24 * time.Hour), Timeout: s20, StorageIPs: ips}
	}
	rack2 := func(endpoint, ip string) [][]config.Device {
		return [][]config.Device{
			{{Driver: "redfish", Username: "rf", PasswordEnv: "RF", Endpoint: endpoint, Timeout: s20}},
			{
				{Driver: "fence-agent", Agent: "fence_apc_snmp", Address: "pdu1", Options: map[string]string{"plug": "7"}, Kind: "power", Timeout: s20},
				{Driver: "ceph-blocklist", CephConf: "/etc/ceph/ceph.conf", CephUser: "vigil", Expiry: dur(48 * time.Hour), Pool: "vms", Timeout: s20, StorageIPs: []string{ip}},
			},
		}
	}
	tests := []struct {
		host string
		want [][]config.Device
	}{
		{"plain", [][]config.Device{{ipmiDefault("10.0.0.1", 6230)}, {cephDefault("10.20.0.1", "fd00::1")}}},
		{"orphan-domain", [][]config.Device{{ipmiDefault("10.0.0.2", 623)}, {cephDefault("10.20.0.2")}}},
		{"r2", rack2("https://10.0.1.1:8443", "10.20.1.1")},
		{"r2-endpoint", rack2("https://bmc-r2.example.net:8443", "10.20.1.2")},
		{"r2-v6", rack2("https://[fd00::2]", "10.20.1.3")},
		{"dumps", [][]config.Device{
			{{Driver: "kdump", Listen: "[::]:7410", Timeout: dur(90 * time.Second), KdumpIPs: []string{"10.0.2.11", "fd00::2:11"}}, cephDefault("10.20.2.1")},
			{{Driver: "ipmi", Address: "10.0.2.1", Port: 623, Cipher: 3, Privilege: "operator", Username: "u", PasswordEnv: "P", Timeout: s20}},
		}},
		{"own", [][]config.Device{
			{{Driver: "ipmi", Address: "192.168.0.4", Port: 16230, Cipher: 17, Privilege: "operator", Username: "u", PasswordEnv: "P", Timeout: dur(5 * time.Second), Retries: 2}},
			{{Driver: "redfish", Address: "192.168.0.5", Username: "u", PasswordEnv: "P", Endpoint: "https://192.168.0.5", Timeout: s20}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := c.Levels(tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Levels(%s) (-want +got):\n%s", tt.host, diff)
			}
		})
	}
	if got := c.Decision().FenceLevels; got != 2 {
		t.Errorf("Decision().FenceLevels = %d, want 2", got)
	}
}

func TestLevelsReturnsACopy(t *testing.T) {
	c := mustParse(t, topologies)
	got, err := c.Levels("r2")
	if err != nil {
		t.Fatal(err)
	}
	got[1][0].Options["plug"] = "99"
	got[1][1].StorageIPs[0] = "1.1.1.1"
	got[0][0].Username = "changed"
	again, _ := c.Levels("r2")
	if again[1][0].Options["plug"] != "7" || again[1][1].StorageIPs[0] != "10.20.1.1" || again[0][0].Username != "rf" {
		t.Errorf("changing Levels' result changed the config: %v", again)
	}
}

func TestLevelsUnknownHost(t *testing.T) {
	c := mustParse(t, topologies)
	if _, err := c.Levels("nope"); !errors.Is(err, config.ErrUnknownHost) {
		t.Errorf("Levels(nope) = %v, want ErrUnknownHost", err)
	}
}
