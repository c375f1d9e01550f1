package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence/devices"
)

const fenceDiagHelp = `vigil fence diag — send a hung host a diagnostic interrupt (NMI), for a crash dump

  vigil fence diag HOST --config FILE --yes

What it does: asks HOST's BMC to raise a non-maskable interrupt (NMI) on its
CPUs: IPMI chassis control "pulse diagnostic interrupt", or Redfish
ComputerSystem.Reset with ResetType Nmi. A hung Linux kernel still takes an
NMI. If the host is set up for it (kdump loaded with a crash kernel, and the
NMI made fatal: sysctl kernel.unknown_nmi_panic=1 and kernel.panic_on_io_nmi=1
cover the kinds a BMC raises), the kernel panics and kdump writes a crash dump
(typically /var/crash) of the state it hung in. A power-off destroys that
state: send the NMI first, give the dump its minutes, then fence.

It is NOT a fence. It changes no power and vigil verifies nothing afterwards:
the host may ignore it and hang on (or run on), or panic, dump and REBOOT,
coming back with its guests unless they were stopped. Never count it as the
host being off; fence it with 'vigil fence off' before you evacuate.

vigil sends it once, through the first device of HOST's levels whose driver
can (ipmi, redfish). A device that cannot (its driver has no NMI, or its BMC
says it does not support one, or the login fails) is passed over and named;
a failure that may have delivered the interrupt (a lost reply) is not tried
again through another device, because a second NMI could land in the dump.
A Redfish system must list Nmi in ResetType@Redfish.AllowableValues. Nothing
is sent to a host whose power reads off.

Exit status: 0 sent (accepted by the BMC), 1 failed (printed, with every
device and why), 2 bad arguments or configuration.

Examples:
  vigil fence diag cmp1 --config /etc/vigil/vigil.yaml --dry-run
  vigil fence diag cmp1 --config /etc/vigil/vigil.yaml --yes
`

func fenceDiagCmd(args []string, env Env) error {
	fl := newFlags("fence diag", fenceDiagHelp, env)
	cfgPath := fl.String("config", "/etc/vigil/vigil.yaml", "vigil's configuration file")
	dry := fl.Bool("dry-run", false, "print HOST's devices and do nothing")
	yes := fl.Bool("yes", false, "really interrupt the host (its kernel may panic and reboot)")
	timeout := fl.Duration("timeout", 2*time.Minute, "give up after this long")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: fence diag needs exactly one HOST (vigil fence diag --help)", errUsage)
	}
	host := pos[0]
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *dry {
		return printPlan(env.Stdout, cfg, []string{host}, "diag")
	}
	if !*yes {
		return fmt.Errorf("%w: fence diag %s interrupts the host's kernel, which may panic, dump and reboot: add --yes to do it, or --dry-run to see the devices", errUsage, host)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sec := devices.Secrets{Getenv: env.Getenv, ReadFile: env.ReadFile}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	topo, err := devices.Build(cfg, host, sec, devices.Options{}, log)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	out := env.Stdout
	fmt.Fprintf(out, "%s: sending a diagnostic interrupt (NMI)\n", host)
	detail, err := topo.Diag(ctx, stepPrinter(out, host))
	if err != nil {
		fmt.Fprintf(out, "%s: FAILED: %v\n", host, err)
		return errFailed
	}
	fmt.Fprintf(out, "%s: NMI sent through %s\n", host, detail)
	fmt.Fprintf(out, "%s: this is not a fence: the host may panic, dump and reboot, or run on; fence it before you evacuate\n", host)
	return nil
}
