package config

import (
	"errors"
	"os"
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
