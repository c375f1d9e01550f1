package ipmi_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/ipmi"
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

// config is a driver config for host i's BMC, with timings for a local BMC.
func (r *rig) config(i int) ipmi.Config {
	c := ipmi.DefaultConfig()
	c.Address = ipmisim.Address
	c.Port = r.bmcs[i].Port()
	c.Username = r.bmcs[i].Username()
	c.Password = r.bmcs[i].Password()
	// ipmi_sim answers chassis control only once chassis-control.sh has
	// run, which can take seconds on a loaded machine; a real BMC answers at
	// once. Without the margin go-ipmi resends and may give up.
	c.ExchangeTimeout = 5 * time.Second
	c.OffTimeout = 20 * time.Second
	c.OnTimeout = 20 * time.Second
	c.PollInterval = 100 * time.Millisecond
	return c
}

func (r *rig) device(tb testing.TB, c ipmi.Config) *ipmi.Device {
	tb.Helper()
	d, err := ipmi.New(c, nil)
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

func TestIntegrationOffVerifiesAndOnRestores(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	d := r.device(t, r.config(0))

	if st, err := d.Status(ctx); err != nil || st != fence.StatusOn {
		t.Fatalf("Status() before Off = %v, %v; want on", st, err)
	}

	start := time.Now()
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatalf("Off() = %v", err)
	}
	t.Logf("Off took %v: %+v", time.Since(start), proof)
	if proof.Driver != "ipmi" || proof.Detail == "" || proof.Power == nil || len(proof.Power.Reads) < 2 || proof.Power.Reads[0].State != "off" {
		t.Errorf("Off() proof = %+v, want driver ipmi with detail", proof)
	}
	// The proof must match reality at once, not eventually.
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
	if on, _ := r.bmcs[2].PoweredOn(ctx); !on {
		t.Error("host2 lost power when host0 was fenced")
	}

	if err := d.On(ctx); err != nil {
		t.Fatalf("On() = %v", err)
	}
	if on, err := r.bmcs[0].PoweredOn(ctx); err != nil || !on {
		t.Fatalf("after On host0 powered on = %t, %v; want on", on, err)
	}
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOn {
		t.Errorf("Status() after On = %v, %v; want on", st, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.lab.Ping(ctx, 1, r.lab.Addr(0, "mgmt")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("host0 not reachable on mgmt 5s after On")
		}
	}
}

// Off of a host that is already off still proves it.
func TestIntegrationOffWhenAlreadyOff(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	if err := r.bmcs[0].SetPower(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.device(t, r.config(0)).Off(ctx); err != nil {
		t.Fatalf("Off() of an off host = %v, want a proof", err)
	}
}

func TestIntegrationWrongCredentials(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	tests := []struct {
		name string
		edit func(*ipmi.Config)
	}{
		{"wrong password", func(c *ipmi.Config) { c.Password = "not-the-password" }},
		{"unknown user", func(c *ipmi.Config) { c.Username = "nobody" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r.config(0)
			tt.edit(&c)
			d := r.device(t, c)
			if _, err := d.Status(ctx); !errors.Is(err, fence.ErrAuth) {
				t.Errorf("Status() = %v, want ErrAuth", err)
			}
			proof, err := d.Off(ctx)
			if !errors.Is(err, fence.ErrAuth) || proof != (fence.Proof{}) {
				t.Errorf("Off() = %+v, %v; want ErrAuth and no proof", proof, err)
			}
			if on, _ := r.bmcs[0].PoweredOn(ctx); !on {
				t.Error("host0 lost power through a BMC that rejected the login")
			}
		})
	}
}

func TestIntegrationUnreachable(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()

	// Nothing listens: the kernel answers "port unreachable" at once.
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.LocalAddr().(*net.UDPAddr).Port
	closed.Close()
	// Something listens and never answers, like a BMC behind a dead switch.
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // drain, never reply; ends when silent is closed
		buf := make([]byte, 1500)
		for {
			if _, _, err := silent.ReadFrom(buf); err != nil {
				return
			}
		}
	}()

	for _, tt := range []struct {
		name string
		port int
	}{
		{"nothing listening", closedPort},
		{"silent", silent.LocalAddr().(*net.UDPAddr).Port},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ipmi.DefaultConfig()
			c.Address, c.Port, c.Username, c.Password = "127.0.0.1", tt.port, "admin", "secret"
			c.ExchangeTimeout, c.Retries = 300*time.Millisecond, 1
			// Session setup's first exchange is tried twice, 300 ms each.
			limit := 2*c.ExchangeTimeout + time.Second
			d, err := ipmi.New(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := d.Status(ctx); !errors.Is(err, fence.ErrUnreachable) || time.Since(start) > limit {
				t.Errorf("Status() = %v after %v, want ErrUnreachable within %v", err, time.Since(start), limit)
			}
			start = time.Now()
			proof, err := d.Off(ctx)
			if !errors.Is(err, fence.ErrUnreachable) || proof != (fence.Proof{}) || time.Since(start) > limit {
				t.Errorf("Off() = %+v, %v after %v; want ErrUnreachable and no proof within %v", proof, err, time.Since(start), limit)
			}
		})
	}
}

// BenchmarkOffIPMI measures Off with its verification against ipmi_sim:
// session setup, chassis power down (which SIGKILLs the host namespace),
// and the power read back for power_wait (0: two reads one PollInterval,
// 100 ms, apart; 2 s: the default). Powering the host on again is not
// timed.
func BenchmarkOffIPMI(b *testing.B) {
	tier.Integration(b, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(b)
	for _, wait := range []time.Duration{0, 2 * time.Second} {
		b.Run("power_wait="+wait.String(), func(b *testing.B) {
			c := r.config(0)
			c.PowerWait = wait
			d := r.device(b, c)
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

// A BMC user with operator privilege only, as a fencing account should be,
// fences with the driver's default privilege (operator). (ipmi_sim does not
// refuse such a user a session at administrator, as real BMCs do, so the
// test cannot show the old default failing.)
func TestIntegrationOperatorUserFences(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	c := ipmisim.DefaultConfig(r.lab.Host(0).Namespace, t.TempDir())
	c.Username, c.Privilege = "fencer", "operator"
	op, err := ipmisim.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Stop)
	cfg := r.config(0)
	cfg.Port, cfg.Username, cfg.Password = op.Port(), op.Username(), op.Password()
	if cfg.Privilege != ipmi.PrivilegeOperator {
		t.Fatalf("default privilege %q, want operator", cfg.Privilege)
	}
	if _, err := r.device(t, cfg).Off(ctx); err != nil {
		t.Fatalf("Off() as operator = %v", err)
	}
	if on, err := r.bmcs[0].PoweredOn(ctx); err != nil || on {
		t.Errorf("after Off host0 powered on = %t, %v; want off", on, err)
	}
}
