package agent_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/agent"
	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// rig is a lab of three powered-on hosts, each behind an ipmi_sim BMC.
// Tests fence host0; host1 looks at it; host2 shows the rest still works.
type rig struct {
	lab  *netns.Lab
	bmcs []*ipmisim.BMC
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	lab, bmcs := ipmisim.LabT(tb, netns.DefaultConfig(netns.UniquePrefix(tb.Name())))
	return &rig{lab: lab, bmcs: bmcs}
}

// config is fence_ipmilan against host i's BMC.
func (r *rig) config(i int) agent.Config {
	c := agent.DefaultIPMILanConfig()
	c.Address = ipmisim.Address
	c.Port = r.bmcs[i].Port()
	c.Username = r.bmcs[i].Username()
	c.Password = r.bmcs[i].Password()
	c.PollInterval = 200 * time.Millisecond
	return c
}

func device(tb testing.TB, c agent.Config) *agent.Device {
	tb.Helper()
	d, err := agent.New(c, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return d
}

// waitPower waits for host i's true power state.
func (r *rig) waitPower(tb testing.TB, i int, on bool) {
	tb.Helper()
	r.bmcs[i].WaitPower(tb, on, 10*time.Second)
}

func TestIntegrationIPMILanOffVerifiesAndOnRestores(t *testing.T) {
	tier.Integration(t, tier.Root, "fence_ipmilan", "ipmitool", "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	d := device(t, r.config(0))

	if err := d.Monitor(ctx); err != nil {
		t.Errorf("Monitor() = %v", err)
	}
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOn {
		t.Fatalf("Status() before Off = %v, %v; want on", st, err)
	}

	start := time.Now()
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatalf("Off() = %v", err)
	}
	t.Logf("Off took %v: %+v", time.Since(start), proof)
	if on, err := r.bmcs[0].PoweredOn(ctx); err != nil || on {
		t.Fatalf("after Off host0 powered on = %t, %v; want its processes gone", on, err)
	}
	for _, n := range []string{"mgmt", "storage"} {
		if err := r.lab.Ping(ctx, 1, r.lab.Addr(0, n)); !errors.Is(err, netns.ErrNoReply) {
			t.Errorf("ping host1 -> fenced host0 on %s = %v, want no reply", n, err)
		}
		if err := r.lab.Ping(ctx, 1, r.lab.Addr(2, n)); err != nil {
			t.Errorf("ping host1 -> host2 on %s = %v, want a reply (only host0 is fenced)", n, err)
		}
	}
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOff {
		t.Errorf("Status() after Off = %v, %v; want off", st, err)
	}

	if err := d.On(ctx); err != nil {
		t.Fatalf("On() = %v", err)
	}
	if on, err := r.bmcs[0].PoweredOn(ctx); err != nil || !on {
		t.Fatalf("after On host0 powered on = %t, %v; want on", on, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.lab.Ping(ctx, 1, r.lab.Addr(0, "mgmt")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("host0 not reachable on mgmt 5s after On")
		}
	}
}

// fence_ipmilan exits 1 for a rejected login like for any failure, so the
// driver reports an *ExitError (with the agent's words), never a proof.
func TestIntegrationIPMILanWrongCredentials(t *testing.T) {
	tier.Integration(t, tier.Root, "fence_ipmilan", "ipmitool", "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	tests := []struct {
		name string
		edit func(*agent.Config)
	}{
		{"wrong password", func(c *agent.Config) { c.Password = "not-the-password" }},
		{"unknown user", func(c *agent.Config) { c.Username = "nobody" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r.config(0)
			tt.edit(&c)
			d := device(t, c)
			var exit *agent.ExitError
			if _, err := d.Status(ctx); !errors.As(err, &exit) || exit.Code != 1 {
				t.Errorf("Status() = %v, want an *ExitError with code 1", err)
			}
			proof, err := d.Off(ctx)
			if !errors.As(err, &exit) || exit.Code != 1 || proof != (fence.Proof{}) {
				t.Errorf("Off() = %+v, %v; want an *ExitError with code 1 and no proof", proof, err)
			}
			t.Logf("Off() = %v", err)
			if on, _ := r.bmcs[0].PoweredOn(ctx); !on {
				t.Error("host0 lost power through a BMC that rejected the login")
			}
		})
	}
}

// With nothing listening fence_ipmilan keeps retrying for its power timeout
// (20 s); the driver kills it at RunTimeout and reports ErrUnreachable.
func TestIntegrationIPMILanUnreachable(t *testing.T) {
	tier.Integration(t, tier.Root, "fence_ipmilan", "ipmitool", "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := closed.LocalAddr().(*net.UDPAddr).Port
	closed.Close()

	c := agent.DefaultIPMILanConfig()
	c.Address, c.Port, c.Username, c.Password = "127.0.0.1", port, "admin", "secret"
	c.RunTimeout, c.OffTimeout, c.OnTimeout = 3*time.Second, 5*time.Second, 5*time.Second
	d := device(t, c)
	limit := c.RunTimeout + 2*time.Second

	start := time.Now()
	if _, err := d.Status(ctx); !errors.Is(err, fence.ErrUnreachable) || time.Since(start) > limit {
		t.Errorf("Status() = %v after %v, want ErrUnreachable within %v", err, time.Since(start), limit)
	}
	start = time.Now()
	proof, err := d.Off(ctx)
	if !errors.Is(err, fence.ErrUnreachable) || proof != (fence.Proof{}) || time.Since(start) > limit {
		t.Errorf("Off() = %+v, %v after %v; want ErrUnreachable and no proof within %v", proof, err, time.Since(start), limit)
	}
}

// BenchmarkOffAgent measures Off with its verification through
// fence_ipmilan against ipmi_sim: the off run (which itself waits for the
// power to go) and the status runs that prove it for power_wait (0: two
// runs; 2 s: the default). Powering the host on again is not timed.
func BenchmarkOffAgent(b *testing.B) {
	tier.Integration(b, tier.Root, "fence_ipmilan", "ipmitool", "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(b)
	for _, wait := range []time.Duration{0, 2 * time.Second} {
		b.Run("power_wait="+wait.String(), func(b *testing.B) {
			c := r.config(0)
			c.PowerWait = wait
			d := device(b, c)
			for b.Loop() {
				b.StopTimer()
				if err := r.bmcs[0].SetPower(ctx, true); err != nil {
					b.Fatal(err)
				}
				r.waitPower(b, 0, true)
				b.StartTimer()
				if _, err := d.Off(ctx); err != nil {
					b.Fatalf("Off() = %v", err)
				}
			}
		})
	}
}

// fence_ipmilan offers diag, and vigil sends it through the agent to the
// real ipmi_sim, which does not carry out a diagnostic interrupt (to the
// native driver it answers completion code 0xCC; fence_ipmilan's ipmitool
// reports "Connection timed out"): the failure comes back as the agent's
// exit error, and the host keeps running.
func TestIntegrationIPMILanDiagRefusedByIPMISim(t *testing.T) {
	tier.Integration(t, tier.Root, "fence_ipmilan", "ipmitool", "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	d := device(t, r.config(0))
	_, err := d.Diag(ctx)
	var ee *agent.ExitError
	if !errors.As(err, &ee) || ee.Action != "diag" {
		t.Fatalf("Diag() = %v; want fence_ipmilan's refusal as an ExitError of action diag", err)
	}
	t.Logf("ipmi_sim refused: %v", err)
	if on, err := r.bmcs[0].PoweredOn(ctx); err != nil || !on {
		t.Fatalf("after a refused diag host0 powered on = %t, %v; want it running", on, err)
	}
}
