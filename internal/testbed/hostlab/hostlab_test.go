package hostlab_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/hostlab"
	"github.com/vigil-ha/vigil/internal/testbed/vigilbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	vigilbin.Remove()
	os.Exit(code)
}

// Three hosts with real agents, a real controller, real IPMI BMCs, on
// network namespaces, at default settings. A host's power cut (its BMC
// kills every process of the host and downs its links) is judged failed,
// fenced through its BMC and the fence verified (the BMC reads off, the
// host answers no ping on storage); the other hosts stay healthy. A cut of
// one host's mgmt link is network-degraded, never fenced.
func TestPowerOffIsFencedAndAMgmtCutIsNot(t *testing.T) {
	l := hostlab.Start(t, hostlab.Config{})
	c := l.StartController()
	for _, h := range l.Hosts {
		l.WaitState(h, 60*time.Second, "healthy")
	}
	c.AfterGrace()

	ctx := context.Background()
	if err := l.Net.Cut(ctx, 1, "mgmt"); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	degraded := l.WaitState("host1", 30*time.Second, "network-degraded")
	t.Logf("mgmt cut → network-degraded: %v", degraded.Sub(cut).Round(10*time.Millisecond))

	if err := l.BMCs[2].SetPower(ctx, false); err != nil {
		t.Fatal(err)
	}
	off := time.Now()
	failed := l.WaitState("host2", 30*time.Second, "failed", "fencing", "fenced", "recovering", "recovered")
	fenced := l.WaitState("host2", 60*time.Second, "fenced", "recovering", "recovered")
	t.Logf("power off at %s; host2's events:\n%s", off.Format("15:04:05.000"), l.Events("host2"))
	t.Logf("power off → judged failed: %v (polled), → fence verified: %v", failed.Sub(off).Round(10*time.Millisecond), fenced.Sub(off).Round(10*time.Millisecond))

	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		switch s.Name {
		case "host0":
			if s.State != "healthy" {
				t.Errorf("host0 is %s (%s); want healthy", s.State, s.Rule)
			}
		case "host1":
			if s.State != "network-degraded" {
				t.Errorf("host1, cut on mgmt, is %s (%s); want network-degraded, never fenced", s.State, s.Rule)
			}
		}
	}
	out, err := l.CLI("status")
	t.Logf("vigil status:\n%s", out)
	if err != nil || !strings.Contains(out, "host2") || !strings.Contains(out, "network-degraded") {
		t.Errorf("vigil status: %v", err)
	}
	out, err = l.CLI("explain", "host2")
	t.Logf("vigil explain host2:\n%s", out)
	if err != nil || !strings.Contains(out, "ipmi") {
		t.Errorf("vigil explain host2: %v; want its ipmi fence named", err)
	}
	m, err := l.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m, `vigil_fences_total{method="ipmi",result="verified"} 1`) {
		t.Errorf("metrics: want one verified ipmi fence; got:\n%s", grep(m, "vigil_fences_total"))
	}
}

func grep(s, pat string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, pat) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// No false failure: for 45 s one host runs a busy loop on every core of the
// machine (the controller and every agent share them here, so this is
// harsher than one loaded host), and another drops 5 % of its packets on
// every network. Neither is ever suspected, failed or fenced.
func TestNoFalseFailureUnderLoadAndLoss(t *testing.T) {
	l := hostlab.Start(t, hostlab.Config{})
	c := l.StartController()
	for _, h := range l.Hosts {
		l.WaitState(h, 60*time.Second, "healthy")
	}
	c.AfterGrace()
	stopBurn := l.Burn(0, runtime.NumCPU())
	stopDrop := l.Drop(1, 0.05)
	time.Sleep(45 * time.Second)
	dropped := l.Dropped(1)
	stopBurn()
	stopDrop()
	if dropped == 0 {
		t.Fatal("host1 dropped no packet: the loss was not applied")
	}
	t.Logf("host1 dropped %d packets in 45 s", dropped)
	for _, h := range l.Hosts {
		ev := l.Events(h)
		t.Logf("%s:\n%s", h, ev)
		for _, bad := range []string{"→suspect", "→failed", "→fencing", "fence(level"} {
			if strings.Contains(ev, bad) {
				t.Errorf("%s under load or loss: %q in its events", h, bad)
			}
		}
	}
}

// The seed incident on real parts: nova-compute stops (on every host of the
// lab: its stand-in is one process) while the agents keep answering. Every
// host is service-degraded, nothing is fenced, and vigil explain says in
// plain words why nothing is done. nova-compute back, every host is healthy
// again with the restart seen.
func TestSeedIncidentIsExplainedAndNothingDone(t *testing.T) {
	l := hostlab.Start(t, hostlab.Config{})
	c := l.StartController()
	for _, h := range l.Hosts {
		l.WaitState(h, 60*time.Second, "healthy")
	}
	c.AfterGrace()
	l.StopService("nova-compute")
	for _, h := range l.Hosts {
		l.WaitState(h, 30*time.Second, "service-degraded")
	}
	out, err := l.CLI("explain", "host0")
	t.Logf("vigil explain host0:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"service-degraded", "Nova's service state alone never fences a host", "nothing will be done to it"} {
		if !strings.Contains(flat, want) {
			t.Errorf("vigil explain host0 does not say %q", want)
		}
	}
	time.Sleep(10 * time.Second) // past dead_after: a service down is no host failure
	l.StartService("nova-compute")
	for _, h := range l.Hosts {
		l.WaitState(h, 30*time.Second, "healthy")
		if ev := l.Events(h); strings.Contains(ev, "fence(level") || strings.Contains(ev, "→failed") {
			t.Errorf("%s was failed or fenced for a stopped nova-compute:\n%s", h, ev)
		}
	}
}
