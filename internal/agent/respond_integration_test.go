package agent

import (
	"os"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/vigil-ha/vigil/internal/testbed/libvirtd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// Against a real libvirtd: stop-vms destroys every running domain (the
// test driver runs one from the start, and the test starts another).
func TestStopVMsDestroysEveryRunningDomain(t *testing.T) {
	tier.Integration(t, tier.Root, "libvirtd")
	d, err := libvirtd.Start(libvirtd.DefaultConfig(os.Getenv("VIGIL_RUN")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	const uri = "test:///default"
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(d.Socket()), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Disconnect() }()
	xml := `<domain type="test"><name>guest-2</name><memory>65536</memory><os><type>hvm</type></os></domain>`
	if _, err := l.DomainCreateXML(xml, 0); err != nil {
		t.Fatal(err)
	}
	active := func() int {
		doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
		if err != nil {
			t.Fatal(err)
		}
		return len(doms)
	}
	if n := active(); n != 2 {
		t.Fatalf("%d domains running before, want 2", n)
	}
	if err := StopVMs(d.Socket(), uri, 5*time.Second)(); err != nil {
		t.Fatal(err)
	}
	if n := active(); n != 0 {
		t.Errorf("%d domains running after stop-vms, want 0", n)
	}
	if err := StopVMs(d.Socket()+".missing", uri, time.Second)(); err == nil {
		t.Error("stop-vms with no libvirtd: nil error")
	}
}
