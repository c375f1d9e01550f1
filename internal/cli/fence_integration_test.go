package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/cli"
	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// vigil runs the vigil command in-process, with the process's real
// environment and files, and returns its exit code and output.
func vigil(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	start := time.Now()
	code := cli.Main(args, cli.Env{Stdout: &out, Stderr: &errOut, Getenv: os.Getenv, ReadFile: os.ReadFile})
	t.Logf("vigil %s: exit %d after %v\n%s%s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), out.String(), errOut.String())
	return code, out.String() + errOut.String()
}

// The operator's commands end to end, from a configuration file to real
// BMCs of a namespace lab: host0 has a Redfish BMC (level 1) and ipmi_sim
// (level 2), both powering the same namespace; host1's level 1 has a wrong
// IPMI password and level 2 the right one. host2 is a peer that looks.
//
// The probe is off (--probe=false): the command pings from the namespace it
// runs in, the root one, where the lab's storage addresses are not routed;
// the test checks the fence from the peer itself.
func TestIntegrationFenceCommand(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ipmitool", "fence_ipmilan", "ip", "ping", "setsid")
	ctx := context.Background()
	lab, err := netns.Up(ctx, netns.DefaultConfig(netns.UniquePrefix(t.Name())))
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() { _ = lab.Down(context.Background()) })
	bmcs, err := ipmisim.StartForLab(ctx, lab, t.TempDir())
	if err != nil {
		t.Fatalf("BMCs: %v", err)
	}
	for _, b := range bmcs {
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(b.Logs())
			}
			b.Stop()
		})
	}
	var hooks atomic.Int32
	rc := redfishbmc.DefaultConfig()
	rc.Power = func(on bool) error {
		hooks.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return bmcs[0].SetPower(ctx, on)
	}
	rf, err := redfishbmc.Start(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rf.Close() })

	dir := t.TempDir()
	secret := func(name, password string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ipmiDev := func(i int, pass string) string {
		return fmt.Sprintf("[{driver: ipmi, username: admin, password_file: %s, timeout: 60s}]", secret(fmt.Sprintf("ipmi%d-%s.pass", i, pass), pass))
	}
	host := func(i int, levels ...string) string {
		return fmt.Sprintf("  - name: host%d\n    bmc: {address: %s, port: %d}\n    storage_ips: [%s]\n    fencing:\n      levels:\n        - %s\n",
			i, ipmisim.Address, bmcs[i].Port(), lab.Addr(i, "storage"), strings.Join(levels, "\n        - "))
	}
	yaml := "hosts:\n" +
		host(0, fmt.Sprintf("[{driver: redfish, endpoint: %q, insecure: true, username: %s, password_file: %s, timeout: 60s}]",
			rf.Endpoint(), rc.Username, secret("redfish.pass", rc.Password)), ipmiDev(0, bmcs[0].Password())) +
		host(1, ipmiDev(1, "not-the-password"), ipmiDev(1, bmcs[1].Password()))
	cfgPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	poweredOn := func(i int, want bool) error {
		on, err := bmcs[i].PoweredOn(ctx)
		if err == nil && on != want {
			err = fmt.Errorf("host%d powered on = %t, want %t", i, on, want)
		}
		return err
	}
	reachable := func(i int, want bool) error {
		for _, n := range []string{"mgmt", "storage"} {
			err := lab.Ping(ctx, 2, lab.Addr(i, n))
			switch {
			case want && err != nil:
				return err
			case !want && !errors.Is(err, netns.ErrNoReply):
				return fmt.Errorf("ping host2 -> host%d on %s = %v, want no reply", i, n, err)
			}
		}
		return nil
	}
	back := func(i int) {
		t.Helper()
		tier.Eventually(t, 20*time.Second, fmt.Sprintf("host%d back", i), func() error {
			if err := poweredOn(i, true); err != nil {
				return err
			}
			return reachable(i, true)
		})
	}
	fenced := func(i int) {
		t.Helper()
		if err := poweredOn(i, false); err != nil {
			t.Error(err)
		}
		if err := reachable(i, false); err != nil {
			t.Error(err)
		}
	}
	has := func(out string, patterns ...string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("output lacks %q", p)
			}
		}
	}
	// vigil must never print a password, whatever happens.
	passwords := []string{rc.Password, bmcs[0].Password(), bmcs[1].Password(), "not-the-password"}
	run := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		code, out := vigil(t, args...)
		for _, p := range passwords {
			if strings.Contains(out, p) {
				t.Errorf("vigil %s printed a password", args[1])
			}
		}
		return code, out
	}
	back(0)
	back(1)
	redfishDev := regexp.QuoteMeta("redfish " + rf.Endpoint())
	ipmi0 := regexp.QuoteMeta(fmt.Sprintf("ipmi %s:%d", ipmisim.Address, bmcs[0].Port()))
	ipmi1 := regexp.QuoteMeta(fmt.Sprintf("ipmi %s:%d", ipmisim.Address, bmcs[1].Port()))

	t.Run("check --all reports the broken device and changes nothing", func(t *testing.T) {
		code, out := run(t, "fence", "check", "--all", "--config", cfgPath)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		has(out,
			`host0 level 1  `+redfishDev+` +[0-9.]+s  on  right to fence proven: account admin has role Administrator\b`,
			`host0 level 2  `+ipmi0+` +[0-9.]+s  on\n`,
			`host1 level 1  `+ipmi1+` +[0-9.]+s  ERROR .*authentication failed`,
			`host1 level 2  `+ipmi1+` +[0-9.]+s  on\n`,
			`host1: FAILED: level 1 `+ipmi1+`: .*authentication failed`)
		if strings.Contains(out, "host0: FAILED") {
			t.Error("host0 reported failed")
		}
		for i := range 2 {
			if err := poweredOn(i, true); err != nil {
				t.Error(err)
			}
		}
		if n := hooks.Load(); n != 0 {
			t.Errorf("the Redfish BMC changed power %d times during a check", n)
		}
	})

	t.Run("off, status and on of host0", func(t *testing.T) {
		code, out := run(t, "fence", "off", "host0", "--config", cfgPath, "--yes", "--probe=false")
		if code != 0 {
			t.Fatalf("off: exit %d, want 0", code)
		}
		has(out,
			`host0: fencing \(2 levels\)`,
			`  host0 level 1  `+redfishDev+` +off +[0-9.]+s  ok: ForceOff accepted`,
			`host0: FENCED at level 1, verified: redfish: `)
		fenced(0)
		if err := poweredOn(1, true); err != nil {
			t.Error(err)
		}

		code, out = run(t, "fence", "status", "host0", "--config", cfgPath)
		if code != 0 {
			t.Errorf("status: exit %d, want 0", code)
		}
		has(out, `host0 level 1  `+redfishDev+` +[0-9.]+s  off  right to fence proven: `, `host0 level 2  `+ipmi0+` +[0-9.]+s  off\n`)

		code, out = run(t, "fence", "on", "host0", "--config", cfgPath, "--yes")
		if code != 0 {
			t.Errorf("on: exit %d, want 0", code)
		}
		has(out, `host0 level 2  `+ipmi0+` +on `, `host0 level 1  `+redfishDev+` +on `, `host0: fences lifted`)
		back(0)
	})

	t.Run("reboot of host0: off verified, then on", func(t *testing.T) {
		code, out := run(t, "fence", "reboot", "host0", "--config", cfgPath, "--yes", "--probe=false")
		if code != 0 {
			t.Fatalf("reboot: exit %d, want 0", code)
		}
		has(out,
			`host0: FENCED at level 1, verified: redfish: `,
			`host0 level 1  `+redfishDev+` +on `,
			`host0: rebooted: off verified, fences lifted`)
		back(0)
	})

	t.Run("off of host1 falls back past the wrong password", func(t *testing.T) {
		code, out := run(t, "fence", "off", "host1", "--config", cfgPath, "--yes", "--probe=false")
		if code != 0 {
			t.Fatalf("off: exit %d, want 0", code)
		}
		has(out,
			`  host1 level 1  `+ipmi1+` +off +[0-9.]+s  failed: .*authentication failed`,
			`  host1 level 2  `+ipmi1+` +off +[0-9.]+s  ok: chassis power down accepted`,
			`host1: FENCED at level 2, verified: ipmi: `)
		fenced(1)

		// on lifts every level: level 2 powers the host on, level 1 cannot
		// log in and says so; the command fails although the host is back.
		code, out = run(t, "fence", "on", "host1", "--config", cfgPath, "--yes")
		if code != 1 {
			t.Errorf("on: exit %d, want 1 (level 1's password is wrong)", code)
		}
		has(out, `host1: FAILED: level 1 `+ipmi1+`: .*authentication failed`)
		back(1)
	})
}
