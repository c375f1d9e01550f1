package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/libvirtd"
)

// TestAttack18RealLibvirtStartsGuestNamedLikeAFlag (safety, the gate fails
// open; see internal/cli's TestAttack18GateGuestNamedLikeAFlagIsAdmitted):
// against a real libvirtd running vigil's own hook as the docs install it,
// with the agent's gate up and no grant (it refuses every start), a guest
// named "-h" starts: libvirtd runs `qemu -h prepare begin -`, vigil gate
// parses "-h" as its help flag and exits 0 without asking the agent.
//
//	VIGIL_INTEGRATION=1 VIGIL_RUN=/tmp/vigil-run go test ./internal/agent/ -run TestAttack18RealLibvirt -count=1
func TestAttack18RealLibvirtStartsGuestNamedLikeAFlag(t *testing.T) {
	// The hook without "--" (docs/agent.md before the fix): the last four
	// arguments are libvirt's whatever they look like.
	_, lv, _ := gateBed(t, func() time.Duration { return time.Minute }, "2s", false) // no grant: until 0
	if _, err := lv.DomainCreateXML(libvirtd.QEMUDomainXML("instance-a18", "6a1f2b8e-0000-4000-8000-000000000018"), 0); err == nil {
		t.Fatal("control: a start with no grant went through")
	}
	dom, err := lv.DomainCreateXML(libvirtd.QEMUDomainXML("-h", "6a1f2b8e-0000-4000-8000-000000000118"), 0)
	if err == nil {
		_ = lv.DomainDestroy(dom)
		t.Fatal("a guest named \"-h\" started with no grant: the hook took its name for vigil gate's -h and exited 0")
	}
	t.Logf("refused: %v", err)
}
