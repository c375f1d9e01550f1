package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
)

const gateHelp = `vigil gate — the guest-start gate, as libvirt's qemu hook

libvirtd runs /etc/libvirt/hooks/qemu before it starts a guest, takes one in
by migration or restores one; a non-zero exit stops it. vigil gate asks the
host's running agent (vigil agent, over its socket) whether a fresh grant of
vigil's leader lets guests start here, and refuses when none does: when the
host is cut off from the controllers, when an incident holds its fence (its
instances may be starting on another host), when the agent has not been
placed yet after a boot, and when the agent does not run. That is what makes
a host's watchdog a fence: after a reset, the next boot runs nothing vigil
may be starting elsewhere (docs/architecture.md, "The watchdog contract").
A start waits up to --wait (60 s) for a grant, asking every second, so that
guests Nova resumes at boot start once the agent's first grant comes; then it
is refused. Nova puts a refused instance in ERROR; vigil restarts it in place
once the host has no incident.

Every other hook call (started, stopped, release, reconnect, ...) passes at
once. The hook must not call libvirt, and this one does not.

Install (Kolla: inside the nova_libvirt container, with the agent's
state_dir mounted):
  cat > /etc/libvirt/hooks/qemu <<'HOOK'
  #!/bin/sh
  exec /usr/local/bin/vigil gate --socket /var/lib/vigil-agent/gate.sock -- "$@"
  HOOK
  chmod 755 /etc/libvirt/hooks/qemu   # then restart libvirtd once

Usage:
  vigil gate [--socket PATH] [--wait D] [--] GUEST OPERATION SUB-OPERATION EXTRA

The last four arguments are always libvirt's, whatever they look like.
`

// gateOps are libvirt's qemu hook operations that put a guest on this
// host: a start, an incoming migration, a restore from a saved image.
var gateOps = map[string]bool{"prepare": true, "migrate": true, "restore": true}

func gateCmd(args []string, env Env) error {
	fs := newFlags("gate", gateHelp, env)
	socket := fs.String("socket", "/var/lib/vigil-agent/gate.sock", "the agent's gate socket (state_dir/gate.sock)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for each answer of the agent")
	wait := fs.Duration("wait", 60*time.Second, "how long a start may wait for a grant (a booting host's agent needs a few seconds for its first) before it is refused")
	// libvirt passes exactly GUEST OPERATION SUB-OPERATION EXTRA: those are
	// the last four arguments, whatever they look like (a guest may be
	// named "-h" or "--"), and only what comes before them is flags.
	if len(args) < 4 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		return fmt.Errorf("%w: gate: want GUEST OPERATION SUB-OPERATION EXTRA, as libvirt passes them to its qemu hook, got %q", errUsage, args)
	}
	pos := args[len(args)-4:]
	if err := fs.Parse(args[:len(args)-4]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: gate: unexpected arguments %q before GUEST OPERATION SUB-OPERATION EXTRA", errUsage, fs.Args())
	}
	guest, op, sub := pos[0], pos[1], pos[2]
	if !gateOps[op] || sub != "begin" {
		return nil
	}
	deadline := time.Now().Add(*wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		ok, why := agent.AskGate(ctx, *socket, guest, op)
		cancel()
		if ok {
			return nil
		}
		if !time.Now().Before(deadline) {
			fmt.Fprintf(env.Stderr, "vigil gate: %s of guest %s refused after waiting %v: %s\n", op, guest, *wait, why)
			return errFailed
		}
		time.Sleep(min(time.Second, time.Until(deadline)))
	}
}
