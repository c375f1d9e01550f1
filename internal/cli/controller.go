package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller/daemon"
	"github.com/vigil-ha/vigil/internal/nova"
)

const controllerHelp = `vigil controller — judge, fence and evacuate

Runs the decision engine against the real world. Operators run three
controllers on one etcd; exactly one leads and acts, and it stops acting
before its etcd lease can run out, so a stalled or cut-off leader never
acts next to its successor. Each reads the same file (the cluster's rules,
hosts and fencing, and its controller section) and finds its own entry in
controller.members by --name.

What it does, every second or so:
  - hears every host's agent on every network (the grants that feed their
    watchdogs go back the same way),
  - reads every storage heartbeat in one pass, Nova's services and servers,
    and the BMC power of fenced hosts,
  - judges each host from all of that (Nova's service state alone never
    fences a host), fences a failed one through its topology and verifies
    the fence, and only then evacuates its instances through Nova.
In controller.mode shadow it does all of that but touches nothing: each
action is logged as "shadow: would ...". Start there.

With no controller.etcd.endpoints it runs an embedded single-node etcd in
controller.data_dir: a lab or a single controller only.

Usage:
  vigil controller --config FILE [--name NAME]           run it
  vigil controller --config FILE [--name NAME] --check   validate, read the
                                                         secret and build every
                                                         host's fencing, then exit

Examples:
  vigil controller --config /etc/vigil/vigil.yaml --check
  vigil controller --config /etc/vigil/vigil.yaml --name ctl1 --log-format json
`

// controllerOpts holds vigil controller's flags.
type controllerOpts struct {
	path, name, format, level string
	pprof                     string
	check, noNova             bool
}

// controllerFlags is command flags for vigil controller.
func controllerFlags(fs *pflag.FlagSet, env Env) (string, func([]string) error) {
	var o controllerOpts
	fs.StringVar(&o.path, "config", "/etc/vigil/vigil.yaml", "the cluster's configuration file")
	// The host name is looked up when the flag is not given, so that the
	// help (and docs/cli) says the same on every machine.
	fs.StringVar(&o.name, "name", "", "this controller's entry of controller.members (default this machine's host name)")
	fs.BoolVar(&o.check, "check", false, "validate the file, the secret and every host's fencing, then exit")
	fs.StringVar(&o.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.noNova, "without-nova", false, "labs and benchmarks only: run with no Nova (its actions are alerted, never carried out)")
	fs.StringVar(&o.pprof, "pprof", "", "serve Go's profiles (net/http/pprof, no authentication) on this loopback address, e.g. 127.0.0.1:6060")
	return controllerHelp, func(pos []string) error { return controllerCmd(pos, o, env) }
}

// controllerCmd runs vigil controller with its positional arguments.
func controllerCmd(pos []string, o controllerOpts, env Env) error {
	if len(pos) > 0 {
		return fmt.Errorf("%w: controller takes no arguments, got %q", errUsage, pos)
	}
	if o.name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("%w: --name: this machine has no host name (%v): give the controller's entry of controller.members", errUsage, err)
		}
		o.name = host
	}
	log, err := newLogger(env, o.format, o.level)
	if err != nil {
		return err
	}
	cfg, err := config.Load(o.path)
	if err != nil {
		return err
	}
	opts := daemon.Options{Name: o.name, Getenv: env.Getenv, ReadFile: env.ReadFile, Log: log}
	if o.noNova {
		opts.Nova = func(context.Context) (*nova.Client, error) { return nil, nil }
	}
	if o.check {
		sum, err := daemon.Check(cfg, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: %s\n", o.path, sum)
		return nil
	}
	if o.pprof != "" {
		stopProfiles, err := serveProfiles(o.pprof, log)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return daemon.Run(ctx, cfg, opts)
}

// newLogger is the structured log every daemon writes to stderr.
func newLogger(env Env, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	o := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, o)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// serveProfiles serves net/http/pprof on addr, which must be a loopback
// address: the profiles are not authenticated.
func serveProfiles(addr string, log *slog.Logger) (func(), error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%w: --pprof %q: give a loopback address and port, e.g. 127.0.0.1:6060 (the profiles are not authenticated)", errUsage, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving profiles", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
