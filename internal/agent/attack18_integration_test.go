package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/vigil-ha/vigil/internal/testbed/libvirtd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
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
	tier.Integration(t, tier.Root, "libvirtd", "qemu-system-x86_64", "unshare", "setpriv")
	run := os.Getenv("VIGIL_RUN")
	if run == "" {
		run = os.TempDir()
	}
	dir, err := os.MkdirTemp(run, "gate-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildVigil(t, dir)
	sock := filepath.Join(dir, "gate.sock")
	g := NewGate(func() time.Duration { return time.Minute }) // no grant: until 0
	l, err := ListenGate(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go func() { _ = g.Serve(ctx, l) }()

	cfg := libvirtd.DefaultConfig(run)
	cfg.QEMUHook = "#!/bin/sh\nexec " + bin + " gate --wait 2s --socket " + sock + " \"$@\"\n"
	d, err := libvirtd.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(d.LogTail())
		}
		_ = d.Stop()
	})
	lv := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(d.Socket()), dialers.WithLocalTimeout(10*time.Second)))
	if err := lv.ConnectToURI(libvirt.ConnectURI("qemu:///session")); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lv.Disconnect() }()
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
