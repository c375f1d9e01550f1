package cli

import (
	"path/filepath"
	"testing"
)

// Adversarial review 18: vigil gate, libvirt's qemu hook.

// TestAttack18GateGuestNamedLikeAFlagIsAdmitted (safety: the gate fails
// open). libvirtd runs the hook as `qemu GUEST OPERATION SUB-OP EXTRA`, and
// the documented hook passes that on: `vigil gate --socket S "$@"`. parse
// reads flags anywhere among the arguments, so the guest's name is parsed
// as a flag: a domain named "-h", "-help" or "--help" makes the flag
// package return flag.ErrHelp, which exitCode maps to 0. The hook then
// admits the start without ever asking the agent: here no agent runs at
// all (the socket does not exist), where the gate must refuse. The name is
// the domain's: Nova's instance_name_template ("%(display_name)s" is a
// valid template, and a tenant picks the display name), or any domain an
// operator defines. (For migrate and restore the help text also goes to
// stdout, which libvirt takes as the new domain XML.) Other names are
// taken as flags too: "--socket=/elsewhere", "--wait=0s"; and a domain
// named "--" ends the flags, so "prepare" is taken for the guest and
// "begin" for the operation, which the hook passes at once.
func TestAttack18GateGuestNamedLikeAFlagIsAdmitted(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no-agent.sock")
	for _, guest := range []string{"-h", "-help", "--help", "--"} {
		for _, op := range []string{"prepare", "migrate", "restore"} {
			code, _, _ := run(t, "gate", "--wait", "0s", "--socket", sock, guest, op, "begin", "-")
			if code == 0 {
				t.Errorf("vigil gate %s %s begin - with no agent running: exit 0, the start is admitted (want a refusal: the gate fails closed)", guest, op)
			}
		}
	}
}
