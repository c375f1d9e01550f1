package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/devices"
	"github.com/vigil-ha/vigil/internal/fence/kdump"
)

const fenceHelp = `vigil fence — run a host's fencing topology by hand

  vigil fence status HOST --config FILE         read every device's view of HOST
  vigil fence off HOST --config FILE --yes      fence HOST: level 1, then the next level if one fails;
                                                a level counts only when every device is verified
  vigil fence on HOST --config FILE --yes       lift HOST's fences (storage fences first, then power)
  vigil fence reboot HOST --config FILE --yes   off (verified), then on: a manual power cycle
  vigil fence check HOST|--all --config FILE    health check: status calls, and the right to fence
                                                where a device shows it (Redfish role, Ceph caps);
                                                nothing changes
  vigil fence diag HOST --config FILE --yes     send HOST a diagnostic interrupt (NMI) for a crash
                                                dump; not a fence (vigil fence diag --help)

off --record FILE writes the fence's record (JSON proofs: the blocklist
entries vigil added, with their expiry), also when the fence failed half
way. on lifts a storage fence only from that record (--record FILE) or, with
--all-entries, every blocklist entry on the host's IPs; and only with
evidence that the host was reset since: --boot-id ID (a boot id different
from the one given to off --boot-id) or --force (you checked it yourself).

--dry-run prints the resolved topology (devices, addresses, credential
references; never a password) and does nothing. off, on and reboot change the world:
they need --yes. Exit status: 0 done, 1 failed (the reason is printed), 2 bad
arguments or configuration.

Examples:
  vigil fence off cmp1 --config /etc/vigil/vigil.yaml --dry-run
  vigil fence check --all --config /etc/vigil/vigil.yaml
`

func fenceCmd(args []string, env Env) error {
	if len(args) > 0 && args[0] == "diag" {
		return fenceDiagCmd(args[1:], env)
	}
	fl := newFlags("fence", fenceHelp, env)
	cfgPath := fl.String("config", "/etc/vigil/vigil.yaml", "vigil's configuration file")
	dry := fl.Bool("dry-run", false, "print what would be done and do nothing")
	yes := fl.Bool("yes", false, "really change the host's power or fences (off, on)")
	all := fl.Bool("all", false, "check: every host of the configuration")
	timeout := fl.Duration("timeout", 5*time.Minute, "give up after this long")
	probe := fl.Bool("probe", true, "after a power fence, ping the host's storage_ips: it must stop answering")
	record := fl.String("record", "", "off: write the fence's record (JSON) here; on: read it from here")
	bootID := fl.String("boot-id", "", "off: the host's boot id now (recorded); on: its boot id now (must differ)")
	instances := fl.String("instances", "", "off: comma-separated instance UUIDs on the host (their disks are verified)")
	force := fl.Bool("force", false, "on: lift storage fences without boot-id evidence (you checked the host was reset)")
	allEntries := fl.Bool("all-entries", false, "on: remove every blocklist entry on the host's IPs, not only vigil's")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: fence needs an action: status, off, on, reboot, check or diag (vigil fence --help)", errUsage)
	}
	action := pos[0]
	var hosts []string
	switch {
	case action == "diag":
		// Flags came first (vigil fence --config F diag HOST): diag has
		// its own flags and help.
		i := slices.Index(args, "diag")
		return fenceDiagCmd(append(slices.Clone(args[:i]), args[i+1:]...), env)
	case action == "check" && *all:
		if len(pos) > 1 {
			return fmt.Errorf("%w: fence check --all takes no host", errUsage)
		}
	case action == "status" || action == "off" || action == "on" || action == "reboot" || action == "check":
		if len(pos) != 2 {
			return fmt.Errorf("%w: fence %s needs exactly one HOST", errUsage, action)
		}
		hosts = pos[1:]
	default:
		return fmt.Errorf("%w: fence: unknown action %q: use status, off, on, reboot, check or diag", errUsage, action)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *all {
		for _, h := range cfg.Hosts {
			hosts = append(hosts, h.Name)
		}
	}
	if *dry {
		return printPlan(env.Stdout, cfg, hosts, action)
	}
	if (action == "off" || action == "on" || action == "reboot") && !*yes {
		return fmt.Errorf("%w: fence %s %s changes the host's power or fences: add --yes to do it, or --dry-run to see the plan", errUsage, action, hosts[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sec := devices.Secrets{Getenv: env.Getenv, ReadFile: env.ReadFile}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	failed := 0
	slots := &fence.Slots{}        // a PDU shared by the hosts of check --all is asked one at a time
	ears := kdump.NewReceiver(log) // one socket per kdump listen address, for every host
	for _, h := range hosts {
		topo, err := devices.Build(cfg, h, sec, devices.Options{Probe: *probe, Slots: slots, Kdump: ears}, log)
		if err != nil && !*all {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if err != nil {
			failed++
			fmt.Fprintf(env.Stdout, "%s: FAILED: %v\n", h, err)
			continue
		}
		opts := fenceOpts{record: *record, bootID: *bootID, force: *force, allEntries: *allEntries}
		if *instances != "" {
			opts.instances = strings.Split(*instances, ",")
		}
		if err := runFence(ctx, action, topo, opts, env); err != nil {
			failed++
			fmt.Fprintf(env.Stdout, "%s: FAILED: %v\n", h, err)
		}
	}
	if failed > 0 {
		return errFailed
	}
	return nil
}

// fenceOpts are the flags of off and on.
type fenceOpts struct {
	record, bootID    string
	instances         []string
	force, allEntries bool
}

func runFence(ctx context.Context, action string, topo fence.Topology, opts fenceOpts, env Env) error {
	out := env.Stdout
	progress := stepPrinter(out, topo.Host)
	switch action {
	case "off", "reboot":
		fmt.Fprintf(out, "%s: fencing (%d levels)\n", topo.Host, len(topo.Levels))
		// Every proof a step returned, failed ones too: what to lift later.
		var proofs []fence.Proof
		recording := func(s fence.Step) {
			progress(s)
			if s.Proof.Blocklist != nil || (s.Err == nil && s.Proof.Driver != "") {
				proofs = append(proofs, s.Proof)
			}
		}
		o, err := topo.OffTarget(ctx, fence.Target{Instances: opts.instances, BootID: opts.bootID}, recording)
		if opts.record != "" {
			if werr := writeRecord(env, opts.record, proofs); werr != nil {
				err = errors.Join(err, werr)
			} else {
				fmt.Fprintf(out, "%s: record of %d proofs written to %s\n", topo.Host, len(proofs), opts.record)
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: FENCED at level %d, verified: %s\n", topo.Host, o.Level, o.Summary())
		if action == "off" {
			return nil
		}
		// Only a verified off is followed by on: a reboot that could not
		// prove the host went down must not report a power cycle.
		fmt.Fprintf(out, "%s: lifting fences\n", topo.Host)
		if err := topo.On(ctx, progress); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: rebooted: off verified, fences lifted\n", topo.Host)
	case "on":
		rel := fence.Release{BootID: opts.bootID, Force: opts.force, By: "vigil fence on", AllEntries: opts.allEntries}
		if opts.record != "" {
			b, err := env.ReadFile(opts.record)
			if err != nil {
				return err
			}
			if rel.Proofs, err = fence.UnmarshalProofs(b); err != nil {
				return fmt.Errorf("%s: %w", opts.record, err)
			}
		}
		fmt.Fprintf(out, "%s: lifting fences\n", topo.Host)
		if err := topo.Release(ctx, rel, progress); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: fences lifted\n", topo.Host)
	case "status", "check":
		var errs []error
		for _, h := range topo.Check(ctx) {
			state := h.Status.String()
			switch r := h.Right; {
			case r != nil && r.Proven:
				state += "  right to fence proven: " + r.Detail
			case r != nil:
				state += "  right to fence NOT proven: " + r.Detail
			}
			if h.Err != nil {
				state = "ERROR " + h.Err.Error()
				errs = append(errs, fmt.Errorf("level %d %s: %w", h.Level, h.Member, h.Err))
			}
			fmt.Fprintf(out, "%s level %d  %-40s %6.2fs  %s\n", h.Host, h.Level, h.Member, h.Took.Seconds(), state)
		}
		return errors.Join(errs...)
	}
	return nil
}

// printPlan prints hosts' resolved topologies for --dry-run: devices,
// addresses and credential references, never a password.
func printPlan(out io.Writer, cfg config.Config, hosts []string, action string) error {
	for _, h := range hosts {
		levels, err := devices.Describe(cfg, h)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		fmt.Fprintf(out, "%s: would run %q with this topology:\n", h, action)
		for i, l := range levels {
			fmt.Fprintf(out, "  level %d: %s\n", i+1, strings.Join(l, "  +  "))
		}
	}
	fmt.Fprintln(out, "dry run: nothing was done")
	return nil
}

// stepPrinter prints each step of host's topology as it happens.
func stepPrinter(out io.Writer, host string) func(fence.Step) {
	return func(s fence.Step) {
		result := "ok"
		if s.Err != nil {
			result = "failed: " + s.Err.Error()
		} else if s.Detail != "" {
			result = "ok: " + s.Detail
		}
		name := s.Member
		if name == "" {
			name = "(probe)"
		}
		fmt.Fprintf(out, "  %s level %d  %-40s %-6s %6.2fs  %s\n", host, s.Level, name, s.Op, s.Took.Seconds(), result)
	}
}

func writeRecord(env Env, path string, proofs []fence.Proof) error {
	if env.WriteFile == nil {
		return errors.New("fence: --record: this build cannot write files")
	}
	b, err := fence.MarshalProofs(proofs)
	if err != nil {
		return err
	}
	return env.WriteFile(path, b)
}
