package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, Env{Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }, ReadFile: os.ReadFile})
	return code, o.String(), e.String()
}

func TestLabShowsNaiveDoubleWritersAndVigilNone(t *testing.T) {
	code, out, _ := run(t, "lab")
	if code != 0 {
		t.Fatalf("vigil lab exit %d", code)
	}
	for _, want := range []string{
		"naive: evacuated 2 instances (vm01, vm05) while their host still ran them → DOUBLE WRITERS on 2 disks",
		"vigil: no evacuation, no fence, 0 double writers",
		"healthy → service-degraded [service-down]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("vigil lab output lacks %q", want)
		}
	}
}

func TestLabRunExitCodes(t *testing.T) {
	if code, out, _ := run(t, "lab", "run", "seed-incident.yaml", "power-loss.yaml"); code != 0 || !strings.Contains(out, "2 scenarios, 2 passed, 0 failed") {
		t.Errorf("vigil lab run: exit %d\n%s", code, out)
	}
	code, out, _ := run(t, "lab", "run", "--policy", "naive", "seed-incident.yaml")
	if code != 1 || !strings.Contains(out, "FAIL  seed-incident") || !strings.Contains(out, "double_writers: want 0, got 2") {
		t.Errorf("naive seed incident must fail with double writers: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "lab", "run", "--policy", "sloppy", "seed-incident.yaml"); code != 2 || !strings.Contains(errOut, `--policy "sloppy"`) {
		t.Errorf("bad policy: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "lab", "run", "no-such.yaml"); code != 1 || !strings.Contains(errOut, "no-such.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestLabFuzzFindsNaiveViolations(t *testing.T) {
	code, out, _ := run(t, "lab", "fuzz", "--schedules", "20", "--seed", "7", "--policy", "naive")
	if code != 1 || !strings.Contains(out, "broke an invariant") || !strings.Contains(out, "# minimal schedule") {
		t.Errorf("naive policy under fuzz: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "lab", "fuzz", "--schedules", "20", "--seed", "7")
	if code != 0 || !strings.Contains(out, "0 broke an invariant") {
		t.Errorf("vigil under fuzz: exit %d\n%s", code, out)
	}
	// The naive policy's faults are double writers: --gate safety fails too.
	code, out, _ = run(t, "lab", "fuzz", "--schedules", "20", "--seed", "7", "--policy", "naive", "--gate", "safety")
	if code != 1 || !strings.Contains(out, "broke a safety invariant") {
		t.Errorf("naive policy under --gate safety: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "lab", "fuzz", "--gate", "liveness"); code != 2 || !strings.Contains(errOut, "--gate") {
		t.Errorf("--gate liveness: exit %d, stderr %q", code, errOut)
	}
}

func TestFenceDryRunAndGuards(t *testing.T) {
	cfg := "../../examples/vigil.yaml"
	code, out, _ := run(t, "fence", "off", "cmp1", "--config", cfg, "--dry-run")
	if code != 0 || !strings.Contains(out, "level 1: ipmi address=10.0.0.11") || !strings.Contains(out, "nothing was done") {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("dry run shows a secret:\n%s", out)
	}
	if code, _, errOut := run(t, "fence", "off", "cmp1", "--config", cfg); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("off without --yes: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "fence", "off", "cmp99", "--config", cfg, "--dry-run"); code != 2 || !strings.Contains(errOut, "cmp99") {
		t.Errorf("unknown host: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "fence", "reboot", "cmp1", "--config", cfg); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("reboot without --yes: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "fence", "cycle", "cmp1", "--config", cfg); code != 2 || !strings.Contains(errOut, "unknown action") {
		t.Errorf("unknown action: exit %d, %q", code, errOut)
	}
}

func TestHelpTeaches(t *testing.T) {
	// vigil, vigil help, vigil --help, -h and -help all list the commands.
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}, {"-help"}} {
		code, out, errOut := run(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("vigil %q: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"fences before it evacuates", "lab ", "fence ", "maintenance ", "hand a host to an operator", "version "} {
			if !strings.Contains(out, want) {
				t.Errorf("vigil %q: the command list lacks %q:\n%s", args, want, out)
			}
		}
	}
	// vigil help COMMAND is vigil COMMAND --help.
	_, want, _ := run(t, "lab", "--help")
	if code, out, _ := run(t, "help", "lab"); code != 0 || out != want || !strings.Contains(out, "vigil lab run") {
		t.Errorf("vigil help lab: exit %d, want lab's own --help\n%s", code, out)
	}
	if code, _, errOut := run(t, "bogus"); code != 2 || errOut != "vigil: unknown command \"bogus\"; run 'vigil help'\n" {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run(t, "--bogus"); code != 2 || !strings.HasPrefix(errOut, "vigil: unknown flag: --bogus") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, errOut)
	}
	code, out, _ := run(t, "version")
	if code != 0 || out != "vigil "+Version+"\n" {
		t.Errorf("vigil version: exit %d, %q", code, out)
	}
	code, out, _ = run(t, "fence", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "-dry-run") {
		t.Errorf("fence --help: exit %d\n%s", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	pass := dir + "/bmc.pass"
	if err := os.WriteFile(pass, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := dir + "/good.yaml"
	os.WriteFile(good, []byte(`fencing:
  domains:
    default:
      levels:
        - [{driver: ipmi, username: admin, password_file: `+pass+`}]
hosts:
  - {name: cmp1, bmc: {address: 10.0.0.11}}
`), 0o600)
	code, out, errOut := run(t, "config", "check", "--config", good)
	if code != 0 || !strings.Contains(out, "valid") || !strings.Contains(out, "level 1: ipmi address=10.0.0.11") {
		t.Errorf("good config: exit %d\n%s%s", code, out, errOut)
	}
	// cobra's flags: --config=FILE before the action, and one dash is refused.
	if code, again, _ := run(t, "config", "--config="+good, "check"); code != 0 || again != out {
		t.Errorf("config --config=FILE check: exit %d, output differs:\n%s", code, again)
	}
	if code, _, errOut := run(t, "config", "check", "-config", good); code != 2 || !strings.Contains(errOut, "write --config") {
		t.Errorf("config check -config: exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out+errOut, "s3cret-value") {
		t.Errorf("config check printed the password")
	}
	if !strings.Contains(out, "WARNING: level 1 has no storage-level fence") {
		t.Errorf("a power-only level without a storage fence was not warned about:\n%s", out)
	}
	braces := dir + "/braces.yaml"
	os.WriteFile(braces, []byte(`fencing:
  domains:
    default:
      levels:
        - [{driver: ipmi, username: admin, password_file: `+pass+`}, {driver: ceph-blocklist}]
hosts:
  - {name: cmp1, bmc: {address: 10.0.0.11}, storage_ips: [10.20.0.11]}
`), 0o600)
	// (Without -tags pacific the blocklist device cannot be built: only
	// the warning matters here.)
	if _, out, errOut := run(t, "config", "check", "--config", braces); strings.Contains(out, "WARNING") || !strings.Contains(out, "level 1: ipmi") {
		t.Errorf("belt and braces: want the topology and no warning\n%s%s", out, errOut)
	}
	dumps := dir + "/dumps.yaml"
	os.WriteFile(dumps, []byte(`fencing:
  domains:
    default:
      levels:
        - [{driver: kdump}, {driver: ceph-blocklist}]
        - [{driver: ipmi, username: admin, password_file: `+pass+`}]
        - [{driver: kdump, listen: "[::]:7410"}, {driver: ceph-blocklist}]
hosts:
  - {name: cmp1, bmc: {address: 10.0.0.11}, storage_ips: [10.20.0.11], kdump_ips: [10.0.0.21]}
`), 0o600)
	_, out, errOut = run(t, "config", "check", "--config", dumps)
	for _, want := range []string{
		"level 1: kdump listen=0.0.0.0:7410 kdump_ips=10.0.0.21  +  ceph-blocklist",
		"WARNING: level 2 has no storage-level fence",
		"WARNING: level 3 waits for the host's kdump, but level 2 before it cuts the power first",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kdump levels: output lacks %q\n%s%s", want, out, errOut)
		}
	}
	if strings.Count(out, "WARNING") != 2 {
		t.Errorf("kdump levels: want exactly the two warnings above\n%s", out)
	}
	// A kdump level without a storage fence is refused, not warned about:
	// a forged fence_kdump datagram would pass it.
	os.WriteFile(dumps, []byte(`fencing:
  domains:
    default:
      levels:
        - [{driver: kdump}]
        - [{driver: ipmi, username: admin, password_file: `+pass+`}]
hosts:
  - {name: cmp1, bmc: {address: 10.0.0.11}, storage_ips: [10.20.0.11], kdump_ips: [10.0.0.21]}
`), 0o600)
	code, _, errOut = run(t, "config", "check", "--config", dumps)
	if code != 2 || !strings.Contains(errOut, "fencing.domains.default.levels[0]") || !strings.Contains(errOut, "line 5") || !strings.Contains(errOut, "add a ceph-blocklist device to this level") {
		t.Errorf("kdump level alone: exit %d, %q; want it refused, naming the level, its line and the fix", code, errOut)
	}
	bad := dir + "/bad.yaml"
	os.WriteFile(bad, []byte("brake: {max_hosts: 2, window: soon}\n"), 0o600)
	code, _, errOut = run(t, "config", "check", "--config", bad)
	if code != 2 || !strings.Contains(errOut, "brake.window") || !strings.Contains(errOut, "line 1") {
		t.Errorf("bad duration: exit %d, %q; want the key and line named", code, errOut)
	}
	os.Remove(pass)
	code, out, _ = run(t, "config", "check", "--config", good)
	if code != 2 || !strings.Contains(out, "NOT USABLE") || !strings.Contains(out, pass) {
		t.Errorf("missing password file: exit %d\n%s", code, out)
	}
}

// vigil fence diag --help teaches what an NMI does and that it is not a
// fence; the command needs --yes and one host, and --dry-run does nothing.
func TestFenceDiagHelpAndGuards(t *testing.T) {
	code, out, _ := run(t, "fence", "diag", "--help")
	if code != 0 {
		t.Errorf("fence diag --help: exit %d", code)
	}
	for _, want := range []string{"non-maskable interrupt", "kdump", "It is NOT a fence", "REBOOT",
		"pulse diagnostic interrupt", "ResetType Nmi", "-yes", "Exit status"} {
		if !strings.Contains(out, want) {
			t.Errorf("fence diag --help lacks %q:\n%s", want, out)
		}
	}
	if _, out, _ := run(t, "fence", "--help"); !strings.Contains(out, "vigil fence diag HOST") {
		t.Errorf("fence --help does not mention diag:\n%s", out)
	}
	cfg := "../../examples/vigil.yaml"
	if code, _, errOut := run(t, "fence", "diag", "cmp1", "--config", cfg); code != 2 || !strings.Contains(errOut, "--yes") || !strings.Contains(errOut, "reboot") {
		t.Errorf("diag without --yes: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "fence", "diag", "cmp1", "cmp2", "--config", cfg, "--yes"); code != 2 || !strings.Contains(errOut, "exactly one HOST") {
		t.Errorf("diag of two hosts: exit %d, %q", code, errOut)
	}
	// Flags before the action reach diag too.
	code, out, _ = run(t, "fence", "--config", cfg, "diag", "cmp1", "--dry-run")
	if code != 0 || !strings.Contains(out, `cmp1: would run "diag"`) || !strings.Contains(out, "nothing was done") {
		t.Errorf("diag --dry-run: exit %d\n%s", code, out)
	}
}
