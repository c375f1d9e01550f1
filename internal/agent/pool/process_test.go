package pool

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/internal/wire"
)

// TestHelperPoolProcess is the other side of TestStoppedProcessIsUnreachable:
// a process of its own running one pool member (as an agent process does),
// until it is killed. It does nothing unless VIGIL_POOL_HELPER is set.
func TestHelperPoolProcess(t *testing.T) {
	spec := os.Getenv("VIGIL_POOL_HELPER") // bind join keyfile
	if spec == "" {
		t.Skip("the helper process of TestStoppedProcessIsUnreachable")
	}
	f := strings.Fields(spec)
	hk, err := wire.LoadHostKeys(f[2], "helper")
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Network, c.Host, c.Bind, c.Keys = "mgmt", "cmp3", netip.MustParseAddrPort(f[0]), hk.PoolKeys()
	c.Join = []netip.AddrPort{netip.MustParseAddrPort(f[1])}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if n, _ := p.Rejoin(); n > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("joined")
	select {} // until killed
}

// A real process's member, stopped with SIGSTOP (a hung agent: its kernel
// still holds its sockets, nothing in the process runs): its watchers'
// next round reports it unreachable; after SIGCONT it is reachable again.
// At memberlist's LAN profile (the agent's), memberlist's own detector
// takes seconds to declare it dead: the
// figures are logged (docs/performance.md).
func TestStoppedProcessIsUnreachable(t *testing.T) {
	ks := newKeySet(t)
	var ps []*Pool
	for i := 1; i <= 2; i++ {
		c := testConfig(t, i, ks.keys(t, 1))
		if i == 2 {
			c.Join = []netip.AddrPort{addr(t, 1)}
		}
		c.Memberlist = memberlist.DefaultLANConfig
		ps = append(ps, start(t, c))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPoolProcess$", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("VIGIL_POOL_HELPER=%s %s %s", addr(t, 3), addr(t, 1), keyFile(t, ks, 1)))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, 10*time.Second, func() error {
		for _, p := range ps {
			if len(p.Members()) != 3 || !reach(p)["cmp3"] {
				return fmt.Errorf("%s holds %v (helper: %s)", p.cfg.Host, p.Members(), out)
			}
		}
		return nil
	})

	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for _, p := range ps {
		if r := reach(p); r["cmp3"] {
			t.Errorf("%s reports the stopped cmp3 reachable in its next round", p.cfg.Host)
		}
	}
	t.Logf("SIGSTOP → both watchers' rounds report cmp3 unreachable: %v", time.Since(stopped).Round(time.Millisecond))

	// memberlist's own view, for comparison: when it declares cmp3 dead
	// (it tells no one outside which members it suspects).
	eventually(t, 60*time.Second, func() error {
		if ps[0].holds("cmp3") {
			return fmt.Errorf("memberlist still holds cmp3")
		}
		return nil
	})
	t.Logf("memberlist's LAN profile, 3 members: cmp3 dead in cmp1's view after %v", time.Since(stopped).Round(100*time.Millisecond))

	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error { // it refutes its death and is a member again
		for _, p := range ps {
			if !reach(p)["cmp3"] {
				return fmt.Errorf("%s does not reach cmp3 after SIGCONT (holds %v)", p.cfg.Host, p.Members())
			}
		}
		return nil
	})
}
