package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/vigil-ha/vigil/internal/testbed/libvirtd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// Against a real libvirtd running vigil's own hook (vigil gate, built from
// this tree) as its qemu hook, and real QEMU guests: a start without a
// grant that lets guests start is refused, with the gate's reason in
// libvirt's error; under one it starts; with the agent gone it is refused
// again (the gate fails closed).
func TestGateRefusesQEMUStartsWithoutAGrant(t *testing.T) {
	var now time.Duration
	g, lv, stopAgent := gateBed(t, func() time.Duration { return now }, "3s", true)
	start := func(name, uuid string) error {
		_, err := lv.DomainCreateXML(libvirtd.QEMUDomainXML(name, uuid), 0)
		return err
	}

	if err := start("instance-g1", "6a1f2b8e-0000-4000-8000-000000000001"); err == nil || !strings.Contains(err.Error(), "no fresh grant") {
		t.Fatalf("a start with no grant: %v; want libvirt's refusal carrying the gate's reason", err)
	}
	// The grant comes while the start waits at the hook (a booting host's
	// first grant): it starts.
	granted := time.AfterFunc(time.Second, func() { g.Set(time.Hour) })
	defer granted.Stop()
	t0 := time.Now()
	if err := start("instance-g2", "6a1f2b8e-0000-4000-8000-000000000002"); err != nil {
		t.Fatalf("a start under a grant: %v", err)
	}
	if waited := time.Since(t0); waited < time.Second {
		t.Fatalf("the start went through in %v, before the grant came at 1 s", waited)
	}
	dom, err := lv.DomainLookupByName("instance-g2")
	if err != nil {
		t.Fatal(err)
	}
	if err := lv.DomainDestroy(dom); err != nil {
		t.Fatal(err)
	}
	if err := stopAgent(); err != nil {
		t.Fatal(err)
	}
	if err := start("instance-g3", "6a1f2b8e-0000-4000-8000-000000000003"); err == nil || !strings.Contains(err.Error(), "no answer from the vigil agent") {
		t.Fatalf("a start with the agent gone: %v; want a refusal (the gate fails closed)", err)
	}
}

// gateBed is a real libvirtd whose qemu hook is vigil gate, built from this
// tree (asking with --wait wait; dashdash: the hook passes "--" before
// libvirt's arguments, as docs/agent.md installs it), and the agent's side
// of the gate on clock, served until stopAgent. The test's connection to
// libvirtd comes back too. Needs root (libvirtd and the hook run as
// nobody, in a mount namespace whose /etc has the hook).
func gateBed(t *testing.T, clock func() time.Duration, wait string, dashdash bool) (*Gate, *libvirt.Libvirt, func() error) {
	t.Helper()
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
	if err := os.Chmod(dir, 0o755); err != nil { // libvirtd and its hook run as nobody
		t.Fatal(err)
	}
	bin := buildVigil(t, dir)
	sock := filepath.Join(dir, "gate.sock")
	g := NewGate(clock)
	l, err := ListenGate(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, l) }()
	t.Cleanup(stop)
	stopAgent := func() error { stop(); return <-served }

	sep := ""
	if dashdash {
		sep = " --"
	}
	cfg := libvirtd.DefaultConfig(run)
	cfg.QEMUHook = "#!/bin/sh\nexec " + bin + " gate --wait " + wait + " --socket " + sock + sep + " \"$@\"\n"
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
	t.Cleanup(func() { _ = lv.Disconnect() })
	return g, lv, stopAgent
}

// buildVigil builds vigil from this tree into dir: the hook libvirtd runs.
func buildVigil(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "vigil")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go" // where make deps puts it
	}
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/vigil-ha/vigil/cmd/vigil").CombinedOutput(); err != nil {
		t.Fatalf("go build vigil: %v\n%s", err, out)
	}
	return bin
}
