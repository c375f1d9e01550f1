package cli

import (
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
