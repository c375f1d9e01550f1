package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

const goodAgent = `host: cmp1
networks:
  - name: mgmt
    listen: 10.0.0.11:7401
    controllers: [10.0.0.1:7400, 10.0.0.2:7400, 10.0.0.3:7400]
  - name: storage
    listen: 10.0.2.11:7401
    controllers: [10.0.2.1:7400]
    peers: [{host: cmp2, addr: 10.0.2.12:7401}]
key_file: /etc/vigil/cmp1.key
watchdog: {device: /dev/watchdog}
isolation: {response: stop-vms}
heartbeat: {pool: vigil-heartbeat}
`

func TestAgentFileDefaultsAndGoodFile(t *testing.T) {
	a, err := ParseAgentFile([]byte(goodAgent))
	if err != nil {
		t.Fatal(err)
	}
	if a.ReportInterval.Std().String() != "1s" || a.Isolation.Timeout.Std().String() != "10s" || a.Watchdog.Timeout.Std().String() != "10s" ||
		a.Services.NovaComputeService().Container != "nova_compute" || a.StateDir != "/var/lib/vigil-agent" || a.Isolation.Response != "stop-vms" {
		t.Errorf("parsed = %+v", a)
	}
}

// Bad input names the key, its line and the fix.
func TestAgentFileErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ name, old, new, path, want string }{
		{"unknown key", "key_file:", "key_fil:", "", "key_fil"},
		{"bad listen", "10.0.0.11:7401", "10.0.0.11", "networks[0].listen", "want this host's address and port"},
		{"bad controller", "10.0.0.2:7400", "ctl-2", "networks[0].controllers[1]", "want ip:port"},
		{"bad response", "stop-vms", "halt", "isolation.response", "want none, stop-vms or reboot"},
		{"relative device", "/dev/watchdog", "watchdog0", "watchdog.device", "absolute path"},
		{"no heartbeat", "heartbeat: {pool: vigil-heartbeat}", "", "heartbeat", "cannot tell a host cut off"},
		{"unknown pools key", "heartbeat: {pool: vigil-heartbeat}", "heartbeat: {pool: vigil-heartbeat}\npools: {wach: 3}", "pools.wach", "wach"},
		{"unknown pool key", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]\n    pool: {prt: 7402}", "networks[1].pool.prt", "prt"},
		{"pool port is listen's", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]\n    pool: {port: 7401}", "networks[1].pool.port", "listen's port"},
		{"pool port out of range", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]\n    pool: {port: 70000}", "networks[1].pool.port", "no port"},
		{"listen port 65535", "10.0.0.11:7401", "10.0.0.11:65535", "networks[0].pool.port", "give one"},
		{"bad join", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]\n    pool: {join: [cmp2]}", "networks[1].pool.join[0]", "want another host's pool address"},
		{"join itself", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]\n    pool: {join: [10.0.2.11:7402]}", "networks[1].pool.join[0]", "own pool address"},
		{"watch 0", "heartbeat: {pool: vigil-heartbeat}", "heartbeat: {pool: vigil-heartbeat}\npools: {watch: 0}", "pools.watch", "give 1 to 16"},
		{"ping timeout too long", "heartbeat: {pool: vigil-heartbeat}", "heartbeat: {pool: vigil-heartbeat}\npools: {ping_timeout: 600ms}", "pools.ping_timeout", "half the report interval"},
		{"pool on the other network's listen", "10.0.2.11:7401", "10.0.0.11:7402", "networks[1].listen", "bound by networks[0].pool.port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAgentFile([]byte(strings.Replace(goodAgent, tc.old, tc.new, 1)))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a config *Error", err)
			}
			if tc.path != "" && e.Path != tc.path {
				t.Errorf("path = %q, want %q (%v)", e.Path, tc.path, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
			if tc.path != "" && tc.new != "" && e.Line == 0 { // a missing key has no line
				t.Errorf("err = %v: no line", err)
			}
		})
	}
}

// Pools run by default, each on its network's listen address at the next
// port, joining through the network's peers at theirs.
func TestAgentFilePoolDefaults(t *testing.T) {
	a, err := ParseAgentFile([]byte(goodAgent))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Pools.Enabled || a.Pools.Watch != 3 || a.Pools.PingTimeout.Std().String() != "250ms" {
		t.Errorf("pools = %+v", a.Pools)
	}
	if got := a.Networks[0].PoolAddr().String(); got != "10.0.0.11:7402" {
		t.Errorf("mgmt pool address %s, want listen's port + 1", got)
	}
	if got := a.Networks[0].PoolJoin(); len(got) != 0 {
		t.Errorf("mgmt joins %v, want none (no peers)", got)
	}
	if got := fmt.Sprint(a.Networks[1].PoolJoin()); got != "[10.0.2.12:7402]" {
		t.Errorf("storage joins %s, want its peer at port + 1", got)
	}
	b, err := ParseAgentFile([]byte(strings.Replace(goodAgent, "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]", "    peers: [{host: cmp2, addr: 10.0.2.12:7401}]\n    pool: {port: 7500, join: [10.0.2.13:7500]}", 1) + "pools: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Pools.Enabled || b.Networks[1].PoolAddr().String() != "10.0.2.11:7500" || fmt.Sprint(b.Networks[1].PoolJoin()) != "[10.0.2.13:7500]" {
		t.Errorf("pools %+v, storage pool %v joining %v", b.Pools, b.Networks[1].PoolAddr(), b.Networks[1].PoolJoin())
	}
}

// Every key of the agent's file is documented in docs/agent.md.
func TestAgentDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/agent.md")
	if err != nil {
		t.Fatal(err)
	}
	var visit func(ty reflect.Type, path string)
	visit = func(ty reflect.Type, path string) { // a list's items: networks[].name
		for ty.Kind() == reflect.Slice {
			ty, path = ty.Elem(), path+"[]"
		}
		if ty.Kind() != reflect.Struct || ty == durationType {
			return
		}
		for key, ft := range yamlFields(ty) {
			p := join(path, key)
			if !strings.Contains(string(doc), "`"+p+"`") {
				t.Errorf("docs/agent.md does not document `%s`", p)
			}
			visit(ft, p)
		}
	}
	visit(reflect.TypeFor[AgentFile](), "")
}

// The shipped example parses and is what docs/agent.md shows.
func TestAgentExampleParses(t *testing.T) {
	b, err := os.ReadFile("../../examples/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAgentFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.Host != "cmp1" || len(a.Networks) != 2 || a.Networks[0].Peers[0].Host != "cmp2" || a.Heartbeat.Pool != "vigil-heartbeat" {
		t.Errorf("example = %+v", a)
	}
}
