package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// vigil fence diag and the health check's right to fence, from a
// configuration file to real BMCs: host0 has ipmi_sim (level 1, which
// cannot send an NMI) and a Redfish BMC whose account is an Operator
// (level 2); host1 has a Redfish BMC whose account is ReadOnly (level 1)
// and one that exposes no AccountService (level 2), neither listing Nmi.
func TestIntegrationFenceDiagAndRight(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
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
		t.Cleanup(b.Stop)
	}
	redfish := func(mutate func(*redfishbmc.Config)) *redfishbmc.BMC {
		c := redfishbmc.DefaultConfig()
		mutate(&c)
		b, err := redfishbmc.Start(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	operator := redfish(func(c *redfishbmc.Config) { c.Role = "Operator" })
	readOnly := redfish(func(c *redfishbmc.Config) { c.Role = "ReadOnly"; c.NoNMI = true })
	noAccounts := redfish(func(c *redfishbmc.Config) { c.NoAccountService = true; c.NoNMI = true })

	dir := t.TempDir()
	secret := func(name, password string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rf := secret("redfish.pass", redfishbmc.DefaultConfig().Password)
	redfishDev := func(b *redfishbmc.BMC) string {
		return fmt.Sprintf("[{driver: redfish, endpoint: %q, insecure: true, username: admin, password_file: %s, timeout: 30s}]", b.Endpoint(), rf)
	}
	yaml := fmt.Sprintf(`hosts:
  - name: host0
    bmc: {address: %s, port: %d}
    fencing:
      levels:
        - [{driver: ipmi, username: admin, password_file: %s, timeout: 60s}]
        - %s
  - name: host1
    bmc: {address: %s, port: %d}
    fencing:
      levels:
        - %s
        - %s
`, ipmisim.Address, bmcs[0].Port(), secret("ipmi0.pass", bmcs[0].Password()), redfishDev(operator),
		ipmisim.Address, bmcs[1].Port(), redfishDev(readOnly), redfishDev(noAccounts))
	cfgPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	has := func(t *testing.T, out string, patterns ...string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("output lacks %q", p)
			}
		}
	}
	ipmi0 := regexp.QuoteMeta(fmt.Sprintf("ipmi %s:%d", ipmisim.Address, bmcs[0].Port()))
	dev := func(b *redfishbmc.BMC) string { return regexp.QuoteMeta("redfish " + b.Endpoint()) }

	t.Run("Health check proves the right to fence, or says it could not", func(t *testing.T) {
		code, out := vigil(t, "fence", "check", "--all", "--config", cfgPath)
		if code != 1 {
			t.Errorf("exit %d, want 1 (host1's ReadOnly account)", code)
		}
		has(t, out,
			`host0 level 1  `+ipmi0+` +[0-9.]+s  on\n`,
			`host0 level 2  `+dev(operator)+` +[0-9.]+s  on  right to fence proven: account admin has role Operator, which grants ConfigureComponents`,
			`host1 level 1  `+dev(readOnly)+` +[0-9.]+s  ERROR .*account admin has role ReadOnly \(privileges: Login, ConfigureSelf\), which lacks ConfigureComponents`,
			`host1 level 2  `+dev(noAccounts)+` +[0-9.]+s  on  right to fence NOT proven: the BMC's service root links no AccountService`,
			`host1: FAILED: level 1 `+dev(readOnly)+`: .*device refused the command`)
	})

	t.Run("Diag falls through ipmi_sim, which cannot, to Redfish", func(t *testing.T) {
		code, out := vigil(t, "fence", "diag", "host0", "--config", cfgPath, "--yes")
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
		has(t, out,
			`  host0 level 1  `+ipmi0+` +diag +[0-9.]+s  failed: .*cannot send a diagnostic interrupt.*completion code 0xcc`,
			`  host0 level 2  `+dev(operator)+` +diag +[0-9.]+s  ok: Nmi accepted for /redfish/v1/Systems/1`,
			`host0: NMI sent through level 2 `+dev(operator)+` \(redfish\)`,
			`this is not a fence`)
		if n := operator.NMIs(); n != 1 {
			t.Errorf("the Redfish BMC got %d NMIs, want 1", n)
		}
		if on, err := bmcs[0].PoweredOn(ctx); err != nil || !on {
			t.Errorf("host0 powered on = %t, %v after diag; want on", on, err)
		}
	})

	t.Run("Diag with no device that can names each one", func(t *testing.T) {
		code, out := vigil(t, "fence", "diag", "host1", "--config", cfgPath, "--yes")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		has(t, out,
			`host1: FAILED: .*cannot send a diagnostic interrupt \(NMI\): no device of host1 could send one: `+
				`level 1 `+dev(readOnly)+` \(redfish\): .*does not list Nmi.*; `+
				`level 2 `+dev(noAccounts)+` \(redfish\): .*does not list Nmi`)
		if readOnly.NMIs()+noAccounts.NMIs() != 0 {
			t.Error("an NMI reached a BMC that does not list it")
		}
	})
}
