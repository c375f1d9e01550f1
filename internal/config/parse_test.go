package config_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/config"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantPath string // Error.Path
		wantLine int    // Error.Line, 0 to skip
		wantText string // substring of the message
	}{
		{"unknown top-level key", "networks: [a]\nnetwork: [b]\n", "network", 2, `unknown key "network"`},
		{"unknown nested key", "detection:\n  dead_afterr: 6s\n", "detection.dead_afterr", 2, "keys allowed here: agent_timeout, bmc_freshness"},
		{"unknown host key", "hosts:\n  - name: a\n    bmc: {adress: 1.2.3.4}\n", "hosts[0].bmc.adress", 3, `unknown key "adress"`},
		{"unknown device key", "fencing: {domains: {default: {levels: [[{driver: ipmi, user: x}]]}}}\n", "fencing.domains.default.levels[0][0].user", 1, `unknown key "user"`},
		{"StorageIPs cannot be written in a device", "fencing: {domains: {default: {levels: [[{driver: ceph-blocklist, storageips: [1.2.3.4]}]]}}}\n", "fencing.domains.default.levels[0][0].storageips", 1, "unknown key"},
		{"inline password", "fencing:\n  domains:\n    default:\n      levels:\n        - - driver: ipmi\n            password: hunter2\n", "fencing.domains.default.levels[0][0].password", 6, "set password_file, or name an environment variable in password_env"},
		{"inline password in a host override", "hosts:\n  - name: a\n    fencing: {levels: [[{driver: redfish, password: x}]]}\n", "hosts[0].fencing.levels[0][0].password", 3, "inline passwords are not accepted"},
		{"bad duration", "detection:\n  dead_after: 6 seconds\n", "detection.dead_after", 2, `"6 seconds" is not a duration`},
		{"bare number duration", "brake: {window: 120}\n", "brake.window", 1, "with a unit"},
		{"duration as mapping", "agent:\n  report_interval: {s: 1}\n", "agent.report_interval", 2, "expected a duration"},
		{"int not a number", "recovery:\n  evacuate_attempts: five\n", "recovery.evacuate_attempts", 2, `expected a whole number, found "five"`},
		{"int is fractional", "brake: {max_hosts: 1.5}\n", "brake.max_hosts", 1, "whole number"},
		{"float not a number", "doubt: {fraction: half}\n", "doubt.fraction", 1, "expected a number"},
		{"bool not a bool", "self_fence: {enabled: maybe}\n", "self_fence.enabled", 1, "true or false"},
		{"bool in YAML 1.1 spelling", "self_fence: {enabled: yes}\n", "self_fence.enabled", 1, "true or false"},
		{"quoted int", "brake: {max_hosts: \"2\"}\n", "brake.max_hosts", 1, "whole number"},
		{"string is a list", "hosts: [{name: [a]}]\n", "hosts[0].name", 1, "expected a string, found a list"},
		{"section is a scalar", "detection: 5s\n", "detection", 1, "expected a mapping"},
		{"list is a mapping", "networks: {a: b}\n", "networks", 1, "expected a list"},
		{"empty list item", "networks: [mgmt, ~]\n", "networks[1]", 1, "empty list item"},
		{"empty host", "hosts:\n  - name: a\n  -\n", "hosts[1]", 3, "empty list item"},
		{"duplicate key", "detection:\n  dead_after: 6s\n  dead_after: 7s\n", "detection.dead_after", 3, "appears twice (first on line 2)"},
		{"key is a list", "detection:\n  [a]: 1\n", "detection", 2, "plain name"},
		{"two documents", "networks: [a]\n---\nnetworks: [b]\n", "", 2, "second YAML document"},
		{"syntax error", "detection:\n  dead_after: [6s\n", "", 0, "line"},
		{"tab indentation", "detection:\n\tdead_after: 6s\n", "", 0, "indents with a tab"},
		{"merge of a scalar", "detection:\n  <<: 5\n", "detection", 2, "merge"},
		{"unknown key merged in", "x: &d {dead_afterr: 1s}\n", "x", 1, "unknown key"},
		{"bad key in merged mapping", "hosts:\n  - &h {name: a, bmc: {address: 1.1.1.1}}\n  - {<<: *h, nmae: b}\n", "hosts[1].nmae", 3, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.in))
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Parse = %v, want ErrInvalid", err)
			}
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %T %v, want *config.Error", err, err)
			}
			if e.Path != tt.wantPath || (tt.wantLine != 0 && e.Line != tt.wantLine) {
				t.Errorf("Parse = %v\nat %q line %d, want %q line %d", err, e.Path, e.Line, tt.wantPath, tt.wantLine)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Parse = %v, want it to contain %q", err, tt.wantText)
			}
			if tt.wantPath != "" && !strings.Contains(err.Error(), tt.wantPath) {
				t.Errorf("Parse = %v, want it to name %q", err, tt.wantPath)
			}
		})
	}
}

func TestParseAnchorsAndMerges(t *testing.T) {
	c := mustParse(t, `
fencing:
  domains:
    default:
      levels:
        - [&ipmi {driver: ipmi, username: admin, password_file: /p, timeout: 5s}]
hosts:
  - &h {name: cmp1, bmc: {address: 10.0.0.1}}
  - {<<: *h, name: cmp2}
  - name: cmp3
    fencing:
      levels:
        - [{<<: *ipmi, timeout: 9s}]
        - [*ipmi]
`)
	ipmi := config.Device{Driver: "ipmi", Username: "admin", PasswordFile: "/p", Timeout: config.Duration(5 * time.Second)}
	ipmi9 := ipmi
	ipmi9.Timeout = config.Duration(9 * time.Second)
	want := []config.Host{
		{Name: "cmp1", BMC: config.BMC{Address: "10.0.0.1"}},
		{Name: "cmp2", BMC: config.BMC{Address: "10.0.0.1"}},
		{Name: "cmp3", Fencing: config.Topology{Levels: [][]config.Device{{ipmi9}, {ipmi}}}},
	}
	if diff := cmp.Diff(want, c.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

// A classic "billion laughs" document is refused at once.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	_, err := config.Parse([]byte(b.String()))
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Parse = %v, want ErrInvalid", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseTooLarge(t *testing.T) {
	_, err := config.Parse(make([]byte, config.MaxFileSize+1))
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Parse = %v, want ErrInvalid", err)
	}
}

func TestDurationValues(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10s": 10 * time.Second, "1m30s": 90 * time.Second, "250ms": 250 * time.Millisecond, "0": 0, "-5s": -5 * time.Second, "1h": time.Hour,
	} {
		c := mustParse(t, "agent: {report_interval: "+in+"}\n")
		if got := c.Agent.ReportInterval.Std(); got != want {
			t.Errorf("report_interval %q = %v, want %v", in, got, want)
		}
	}
}

// Found while writing the fuzz target: a mapping that merges itself
// recursed until the stack overflowed.
func TestParseSelfReference(t *testing.T) {
	for _, in := range []string{
		"detection: &a {<<: *a}\n",
		"detection: &a {<<: [*a]}\n",
		"detection: &a {x: {<<: *a}}\n",
		"hosts: &h [{name: a, bmc: {<<: *h}}]\n",
		"networks: &a [*a]\n",
		"hosts: &h [*h]\n",
		"fencing: {domains: &d {default: {levels: [[{driver: ipmi, options: *d}]]}}}\n",
	} {
		if _, err := config.Parse([]byte(in)); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

// Chains of merges must not expand exponentially in the schema walk.
func TestParseMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("hosts:\n  - &m0 {name: a}\n")
	for i := 1; i < 30; i++ {
		b.WriteString("  - &m" + itoa(i) + " {<<: [")
		for j := range 8 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*m" + itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	start := time.Now()
	_, err := config.Parse([]byte(b.String()))
	if !errors.Is(err, config.ErrInvalid) { // yaml: excessive aliasing
		t.Errorf("Parse = %v, want ErrInvalid", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
}
