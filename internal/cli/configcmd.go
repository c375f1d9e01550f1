package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence/devices"
	"github.com/vigil-ha/vigil/internal/safetime"
)

const configHelp = `vigil config check — validate a configuration file before vigil runs with it

  vigil config check --config FILE

Parses the file strictly (unknown keys, inline passwords and impossible timings
are errors that name the key, its line and the fix), resolves every host's
fencing topology, checks that every credential reference can be read (without
printing it), and prints what vigil would do with the file. Exit status: 0 valid,
2 invalid.
`

// configFlags is command flags for vigil config.
func configFlags(fs *pflag.FlagSet, env Env) (string, func([]string) error) {
	path := fs.String("config", "/etc/vigil/vigil.yaml", "vigil's configuration file")
	return configHelp, func(pos []string) error { return configCmd(pos, *path, env) }
}

// configCmd runs vigil config with its positional arguments.
func configCmd(pos []string, cfgPath string, env Env) error {
	if len(pos) != 1 || pos[0] != "check" {
		return fmt.Errorf("%w: config takes one action: check (vigil config --help)", errUsage)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	out := env.Stdout
	d := cfg.Detection
	fmt.Fprintf(out, "%s: valid\n", cfgPath)
	fmt.Fprintf(out, "  networks %s; a silent host is failed after %v of silence on every path (agent %v, peers %v, storage %v)\n",
		strings.Join(cfg.Networks, ", "), d.DeadAfter, d.AgentTimeout, d.PeerTimeout, d.StorageTimeout)
	fmt.Fprintf(out, "  brake: more than %d hosts or %.0f%% of a domain within %v; doubt: more than %.0f%% of hosts lost at once\n",
		cfg.Brake.MaxHosts, cfg.Brake.MaxFraction*100, cfg.Brake.Window, cfg.Doubt.Fraction*100)
	if cfg.SelfFence.Enabled {
		fmt.Fprintf(out, "  self-fence: a silent host with an armed watchdog counts as fenced after %v (safe minimum %v)\n",
			cfg.SelfFence.AssumeDeadAfter, safetime.Minimum(cfg.SafetimeInput()))
	} else {
		fmt.Fprintln(out, "  self-fence: disabled (a host that cannot be fenced waits for an operator)")
	}
	sec := devices.Secrets{Getenv: env.Getenv, ReadFile: env.ReadFile}
	bad := 0
	for _, h := range cfg.Hosts {
		levels, err := devices.Describe(cfg, h.Name)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		fmt.Fprintf(out, "  %s:\n", h.Name)
		for i, l := range levels {
			fmt.Fprintf(out, "    level %d: %s\n", i+1, strings.Join(l, "  +  "))
		}
		for _, w := range storageWarnings(cfg, h.Name) {
			fmt.Fprintf(out, "    WARNING: %s\n", w)
		}
		if _, err := devices.Build(cfg, h.Name, sec, devices.Options{}, nil); err != nil {
			bad++
			fmt.Fprintf(out, "    NOT USABLE: %v\n", err)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d hosts have a fence device that cannot be built (see above)", errUsage, bad, len(cfg.Hosts))
	}
	return nil
}

// storageWarnings names every level of host's topology that can succeed
// without a storage fence. A BMC that lies "off" for a hung or cut-off host
// (docs/fencing.md, known limits) passes a level of power devices alone,
// and the guests of a host that still runs may write again; a storage fence
// in the same level keeps them off their disks. (A kdump level without one
// is refused by config.Validate: a forged fence_kdump datagram would pass
// it.) It also names a kdump level placed after a power level, where it
// protects no dump.
func storageWarnings(cfg config.Config, host string) []string {
	levels, err := cfg.Levels(host)
	if err != nil {
		return nil
	}
	var out []string
	powerLevel := 0 // the first level with a power device
	for i, level := range levels {
		if !slices.ContainsFunc(level, config.Device.IsStorageFence) {
			out = append(out, fmt.Sprintf("level %d has no storage-level fence: if its BMC reports \"off\" for a host that is hung or cut off but still running, vigil evacuates and the old guests may write again when it returns; add a ceph-blocklist device to the same level (belt and braces, docs/fencing.md)", i+1))
		}
		kdump := slices.ContainsFunc(level, func(d config.Device) bool { return d.Driver == config.DriverKdump })
		if kdump && powerLevel > 0 {
			out = append(out, fmt.Sprintf("level %d waits for the host's kdump, but level %d before it cuts the power first: a dump is protected only when the kdump level comes before every power level", i+1, powerLevel))
		}
		if powerLevel == 0 && slices.ContainsFunc(level, config.Device.IsPowerFence) {
			powerLevel = i + 1
		}
	}
	return out
}
