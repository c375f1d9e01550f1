package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vigil completion SHELL prints cobra's script for that shell; the bash
// one (cobra's V2) lists no command itself but asks vigil __complete,
// which must offer every top-level command.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := run(t, "completion", shell)
		if code != 0 || errOut != "" || !strings.Contains(out, "__complete") || !strings.Contains(out, "vigil") {
			t.Errorf("vigil completion %s: exit %d, stderr %q, script:\n%.300s", shell, code, errOut, out)
		}
	}
	code, out, _ := run(t, "__complete", "")
	for _, c := range commands() {
		name, _, _ := strings.Cut(c.use, " ")
		if !strings.Contains(out, "\n"+name+"\t") && !strings.HasPrefix(out, name+"\t") {
			t.Errorf("vigil __complete '' (what the bash script runs): exit %d, %q missing:\n%s", code, name, out)
		}
	}
	if _, out, _ := run(t, "__complete", "contr"); !strings.HasPrefix(out, "controller\t") {
		t.Errorf("vigil __complete contr: want controller first:\n%s", out)
	}
	if code, _, errOut := run(t, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, "bash, zsh, fish") {
		t.Errorf("vigil completion tcsh: exit %d, stderr %q; want a usage error naming the shells", code, errOut)
	}
}

// docs/cli is what vigil gen-docs writes: a command, flag or help text
// changed without make docs fails here, naming the page.
func TestDocsMatchCommands(t *testing.T) {
	dir := t.TempDir()
	var o, e bytes.Buffer
	env := Env{Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" },
		WriteFile: func(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }}
	if code := Main([]string{"gen-docs", dir}, env); code != 0 {
		t.Fatalf("vigil gen-docs: exit %d: %s", code, e.String())
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(fresh) < len(commands()) {
		t.Fatalf("vigil gen-docs wrote %d pages, want one per command (%d at least)", len(fresh), len(commands()))
	}
	for _, f := range fresh {
		name := filepath.Base(f)
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join("../../docs/cli", name))
		if err != nil {
			t.Errorf("docs/cli/%s is missing: run make docs", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/cli/%s differs from what vigil gen-docs writes: run make docs", name)
		}
	}
	old, _ := filepath.Glob("../../docs/cli/*.md")
	for _, f := range old {
		if _, err := os.Stat(filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Errorf("docs/cli/%s documents no command: run make docs", filepath.Base(f))
		}
	}
	if code, _, errOut := run(t, "gen-docs"); code != 2 || !strings.Contains(errOut, "gen-docs DIR") {
		t.Errorf("vigil gen-docs without DIR: exit %d, stderr %q", code, errOut)
	}
}

// The daemons' and keys' commands take cobra flags: --check=true, flags in any
// order; arguments and one-dash long flags are usage errors.
func TestDaemonFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"controller", "extra"}, 2, `controller takes no arguments, got ["extra"]`},
		{[]string{"controller", "--check=true", "--config", "/nonexistent/vigil.yaml"}, 1, "/nonexistent/vigil.yaml"},
		{[]string{"controller", "-check"}, 2, "write --check"},
		{[]string{"controller", "--log-level=loud", "--config", "x"}, 2, "loud"},
		{[]string{"agent"}, 2, "agent: --config FILE is required"},
		{[]string{"agent", "extra", "--config", "x"}, 2, `agent takes no arguments, got ["extra"]`},
		{[]string{"agent", "--check", "--config=/nonexistent/agent.yaml"}, 1, "/nonexistent/agent.yaml"},
		{[]string{"agent", "-config", "x"}, 2, "write --config"},
		{[]string{"keys", "--out=/tmp", "host", "cmp1"}, 2, "keys host: --secrets FILE is required"},
		{[]string{"keys", "new", "-secrets", "x"}, 2, "write --secrets"},
		{[]string{"keys", "--secrets", "x", "bogus"}, 2, `unknown keys command "bogus"`},
	} {
		if code, _, errOut := run(t, tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("vigil %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
