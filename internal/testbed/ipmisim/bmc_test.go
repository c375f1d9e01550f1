package ipmisim

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

func startLab(t *testing.T, hosts int) *netns.Lab {
	t.Helper()
	cfg := netns.DefaultConfig(netns.UniquePrefix(t.Name()))
	cfg.Hosts = hosts
	lab, err := netns.Up(context.Background(), cfg)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() { _ = lab.Down(context.Background()) })
	return lab
}

func startBMC(t *testing.T, cfg Config) *BMC {
	t.Helper()
	b, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(b.Logs())
		}
		b.Stop()
	})
	return b
}

// ipmitool runs an ipmitool chassis command against b, an independent
// client to check the simulator with. The password goes through the
// environment (-E), not argv.
func ipmitool(t *testing.T, b *BMC, args ...string) string {
	t.Helper()
	cmd := exec.Command("ipmitool", append([]string{"-I", "lanplus", "-C", "3",
		"-H", Address, "-p", strconv.Itoa(b.Port()), "-U", b.Username(), "-E"}, args...)...)
	cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+b.Password())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipmitool %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func poweredOn(b *BMC, want bool) func() error {
	return func() error {
		on, err := b.PoweredOn(context.Background())
		if err == nil && on != want {
			err = errors.New("powered on = " + strconv.FormatBool(on))
		}
		return err
	}
}

func TestBMCPowersNamespace(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ipmitool", "ip", "setsid")
	ctx := context.Background()
	lab := startLab(t, 2)
	dir := t.TempDir()
	b := startBMC(t, DefaultConfig(lab.Host(0).Namespace, dir))
	if b.Port() < FirstPort || b.Port() > LastPort {
		t.Errorf("port %d outside %d..%d", b.Port(), FirstPort, LastPort)
	}

	if err := b.SetPower(ctx, true); err != nil {
		t.Fatalf("SetPower on: %v", err)
	}
	tier.Eventually(t, 5*time.Second, "host on after SetPower", poweredOn(b, true))
	if got := ipmitool(t, b, "chassis", "power", "status"); got != "Chassis Power is on" {
		t.Errorf("ipmitool status = %q, want on", got)
	}

	ipmitool(t, b, "chassis", "power", "off")
	tier.Eventually(t, 5*time.Second, "host off after IPMI power off", poweredOn(b, false))
	if got := ipmitool(t, b, "chassis", "power", "status"); got != "Chassis Power is off" {
		t.Errorf("ipmitool status = %q, want off", got)
	}
	for _, n := range []string{"mgmt", "storage"} {
		if err := lab.Ping(ctx, 1, lab.Addr(0, n)); !errors.Is(err, netns.ErrNoReply) {
			t.Errorf("ping host1 -> host0 on %s while off = %v, want ErrNoReply", n, err)
		}
	}

	ipmitool(t, b, "chassis", "power", "on")
	tier.Eventually(t, 5*time.Second, "host on after IPMI power on", poweredOn(b, true))
	tier.Eventually(t, 5*time.Second, "host0 reachable on mgmt after power on", func() error {
		return lab.Ping(ctx, 1, lab.Addr(0, "mgmt"))
	})

	for _, f := range []string{"lan.conf", "chassis-control.sh", "host.sh", "sim.log", "power.log"} {
		if _, err := os.Stat(dir + "/" + lab.Host(0).Namespace + "/" + f); err != nil {
			t.Errorf("runtime file %s: %v", f, err)
		}
	}

	b.Stop()
	if on, err := b.PoweredOn(ctx); err != nil || !on {
		t.Errorf("after Stop PoweredOn = %v, %v; want the host left on", on, err)
	}
	b.Stop() // a second Stop is fine
}

// Each BMC gets its own port, and a port held by someone else is a clear
// error when asked for explicitly.
func TestBMCPorts(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ipmitool", "ip", "setsid")
	lab := startLab(t, 3)
	bmcs, err := StartForLab(context.Background(), lab, t.TempDir())
	if err != nil {
		t.Fatalf("StartForLab: %v", err)
	}
	ports := map[int]bool{}
	for i, b := range bmcs {
		t.Cleanup(b.Stop)
		if b.Namespace() != lab.Host(i).Namespace {
			t.Errorf("BMC %d powers %s, want %s", i, b.Namespace(), lab.Host(i).Namespace)
		}
		if ports[b.Port()] {
			t.Errorf("two BMCs on port %d", b.Port())
		}
		ports[b.Port()] = true
		tier.Eventually(t, 5*time.Second, "host on after StartForLab", poweredOn(b, true))
	}

	held, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := DefaultConfig(lab.Host(1).Namespace, t.TempDir())
	cfg.Port = held.LocalAddr().(*net.UDPAddr).Port
	if c, err := Start(context.Background(), cfg); err == nil {
		c.Stop()
		t.Fatalf("Start on held port %d succeeded, want an error", cfg.Port)
	}
}

func TestStartNeedsNamespace(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ipmitool", "ip", "setsid")
	if b, err := Start(context.Background(), DefaultConfig("vg-no-such-ns", t.TempDir())); err == nil {
		b.Stop()
		t.Fatal("Start for a missing namespace succeeded, want an error")
	}
}
