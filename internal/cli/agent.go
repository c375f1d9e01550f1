package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/agent/daemon"
	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/wire"
)

const agentHelp = `vigil agent — the compute host's agent

Runs on every compute host. Every report_interval it tells the controllers,
on every network, what runs on the host (nova-compute, libvirtd, the guests),
writes the storage heartbeat, and feeds the host's watchdog only while the
leading controller grants it. Cut off from the leader for isolation.timeout,
it stops feeding it (the host resets) and applies isolation.response. It
opens the watchdog device only on its first grant (an agent restarted while
the host is cut off never touches it), and only one agent may run per host
(it locks state_dir).

On SIGTERM or SIGINT it stops cleanly: it tells the leader and disarms the
watchdog only once the leader acknowledged, within 10 s; otherwise it exits
with the watchdog still running, and the host resets when its last grant is
up (the controllers treat it as isolated, never as stopped).

Usage:
  vigil agent --config FILE           run the agent
  vigil agent --config FILE --check   validate the file and the key, then exit

The file (docs/agent.md): host, networks (name, listen, controllers, peers),
key_file (vigil keys host), state_dir, report_interval, isolation {timeout,
response: none|stop-vms|reboot}, watchdog {device, timeout}, services
{nova_compute, libvirtd: container or process; docker}, libvirt {socket, uri},
heartbeat {dir | pool, ceph_conf, ceph_user}, pools {enabled, watch,
ping_timeout} and each network's pool {port, join}: peer probing, a
memberlist pool per network on listen's address at the next port.

Example:
  vigil agent --config /etc/vigil/agent.yaml --check
`

// agentFlags is command flags for vigil agent.
func agentFlags(fs *pflag.FlagSet, env Env) (string, func([]string) error) {
	path := fs.String("config", "", "the agent's configuration file")
	check := fs.Bool("check", false, "validate the file and the key file, then exit")
	return agentHelp, func(pos []string) error { return agentCmd(pos, *path, *check, env) }
}

// agentCmd runs vigil agent with its positional arguments.
func agentCmd(pos []string, path string, check bool, env Env) error {
	if len(pos) > 0 {
		return fmt.Errorf("%w: agent takes no arguments, got %q", errUsage, pos)
	}
	if path == "" {
		return fmt.Errorf("%w: agent: --config FILE is required", errUsage)
	}
	cfg, err := config.LoadAgentFile(path)
	if err != nil {
		return err
	}
	keys, err := wire.LoadHostKeys(cfg.KeyFile, cfg.Host)
	if err != nil {
		return err
	}
	if check {
		if cfg.Watchdog.Device != "" {
			// Looked at, not opened: opening starts the timer.
			if err := (agent.LinuxDevice{Path: cfg.Watchdog.Device}).Check(); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stdout, "%s: agent of %s, %d network(s), key generation %d, watchdog %q, isolation %v then %s\n",
			path, cfg.Host, len(cfg.Networks), keys.Newest().ID, cfg.Watchdog.Device, cfg.Isolation.Timeout.Std(), cfg.Isolation.Response)
		switch {
		case !cfg.Pools.Enabled:
			fmt.Fprintf(env.Stdout, "peer pools: off (pools.enabled: false)\n")
		case len(keys.PoolKeys()) == 0:
			fmt.Fprintf(env.Stderr, "warning: key_file %s holds no pool key (written before the peer pools): the agent will run without them; write it again (vigil keys host %s) or set pools.enabled: false\n", cfg.KeyFile, cfg.Host)
		default:
			for _, n := range cfg.Networks {
				fmt.Fprintf(env.Stdout, "peer pool on %s: %s, joining through %v, pool key generation %d\n", n.Name, n.PoolAddr(), n.PoolJoin(), keys.PoolKeys()[0].ID)
			}
		}
		if agent.GateInstalled(cfg.Libvirt.Hook) {
			fmt.Fprintf(env.Stdout, "guest-start gate: %s runs vigil gate\n", cfg.Libvirt.Hook)
		} else {
			fmt.Fprintf(env.Stderr, "warning: libvirt.hook %s does not run vigil gate: guests may start on this host without a grant, so after a watchdog reset its next boot may resume guests vigil is starting elsewhere, and vigil never takes a reboot of it as a fence; install the hook (vigil gate --help) and restart libvirtd\n", cfg.Libvirt.Hook)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	return daemon.Run(ctx, cfg, keys, daemon.Paths{}, log)
}
