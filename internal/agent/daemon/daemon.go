// Package daemon assembles a compute host's agent process from its
// configuration file: the probes, the contract and its keeper, the
// watchdog, the uplink to the controllers and the storage heartbeat
// (vigil agent), and the peer pools that probe the other hosts on every
// network. The parts are tested on their own; this package only
// joins them, in the order that keeps the host safe: it first takes the
// host's lock on state_dir (one agent process at a time), and it never opens
// the watchdog device itself: the keeper does, on the process's first grant
// (docs/architecture.md, "The device itself").
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/agent/pool"
	"github.com/vigil-ha/vigil/internal/agent/probe"
	"github.com/vigil-ha/vigil/internal/agent/uplink"
	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/heartbeat"
	"github.com/vigil-ha/vigil/internal/wire"
)

// Paths the agent reads on the host; tests point them elsewhere.
type Paths struct {
	BootID   string // default /proc/sys/kernel/random/boot_id
	ProcRoot string // default /proc
}

// GateSocket is where the agent answers the guest-start gate (vigil gate).
func GateSocket(stateDir string) string { return filepath.Join(stateDir, "gate.sock") }

// StopWait is how long a clean stop waits for the leader's
// acknowledgement before it exits with the watchdog still running.
const StopWait = 10 * time.Second

// Run runs the agent of cfg until ctx ends, then stops it cleanly. It
// returns an error naming the part that failed to start, or the clean
// stop's outcome.
func Run(ctx context.Context, cfg config.AgentFile, keys wire.HostKeys, paths Paths, log *slog.Logger) error {
	if paths.BootID == "" {
		paths.BootID = "/proc/sys/kernel/random/boot_id"
	}
	if paths.ProcRoot == "" {
		paths.ProcRoot = "/proc"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	boot, err := probe.ReadBootID(paths.BootID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent: state_dir: %w", err)
	}
	unlock, err := LockState(cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	saved, err := agent.LoadState(cfg.StateDir, boot)
	if err != nil {
		log.Warn("no state from a predecessor: starting as isolated", "err", err)
		saved = nil
	}

	host, closeProbes, err := sampler(ctx, cfg, boot, paths, log)
	if err != nil {
		return err
	}
	defer closeProbes()

	ucfg := uplink.DefaultConfig()
	ucfg.Keys, ucfg.Log, ucfg.Clock = keys, log, bootClock
	var names []string
	for _, n := range cfg.Networks {
		un := uplink.Network{Name: n.Name, Listen: n.Listen, Controllers: n.Controllers}
		for _, p := range n.Peers {
			un.Peers = append(un.Peers, uplink.Peer{Host: p.Host, Addr: p.Addr})
		}
		ucfg.Networks = append(ucfg.Networks, un)
		names = append(names, n.Name)
	}
	up, err := uplink.New(ucfg)
	if err != nil {
		return err
	}
	defer up.Close()
	pools, err := startPools(cfg, keys, log)
	if err != nil {
		return err
	}
	defer closePools(pools)

	var beat agent.Heartbeat
	switch hb := cfg.Heartbeat; {
	case hb.Dir != "":
		beat = heartbeat.NewWriter(heartbeat.Dir{Path: hb.Dir}, cfg.Host, boot)
	case hb.Pool != "":
		conf, user := hb.CephConf, hb.CephUser
		if conf == "" {
			conf = "/etc/ceph/ceph.conf"
		}
		if user == "" {
			user = "vigil-heartbeat"
		}
		store, closeStore, err := heartbeat.OpenRados(conf, user, hb.Pool)
		if err != nil {
			return err
		}
		defer closeStore()
		beat = heartbeat.NewWriter(store, cfg.Host, boot)
	}
	if w, ok := beat.(*heartbeat.Writer); ok {
		hook := cfg.Libvirt.Hook
		w.Gated = func() bool { return agent.GateInstalled(hook) }
	}

	// The device is only looked at here: opening it starts its timer (and
	// its close at this process's exit would ping it), which only a
	// granted process may do.
	var dev agent.Device
	if cfg.Watchdog.Device != "" {
		ld := agent.LinuxDevice{Path: cfg.Watchdog.Device}
		if err := ld.Check(); err != nil {
			return err
		}
		dev = ld
	}
	c, err := agent.NewContract(boot, agent.NewProcessID(), cfg.Isolation.Timeout.Std(), false, saved)
	if err != nil {
		return err
	}
	stopVMs := agent.StopVMs(cfg.Libvirt.Socket, cfg.Libvirt.URI, 10*time.Second)
	respond := func(r agent.Response) error {
		switch r {
		case agent.RespondStopVMs:
			return stopVMs()
		case agent.RespondReboot:
			return agent.Reboot(ctx)
		}
		return nil
	}
	k, err := agent.NewKeeper(c, dev, cfg.Watchdog.Timeout.Std(), bootClock, agent.Response(cfg.Isolation.Response), respond)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg.Host, names, c, k, host, up, cfg.StateDir, log)
	if err != nil {
		return err
	}
	if beat != nil {
		a.SetHeartbeat(beat)
	}
	// The guest-start gate libvirt's hook asks (vigil gate): it answers
	// from the contract, set by the loop after every grant and tick.
	gl, err := agent.ListenGate(GateSocket(cfg.StateDir))
	if err != nil {
		return err
	}
	gate := agent.NewGate(bootClock)
	a.SetGate(gate)
	gateCtx, stopGate := context.WithCancel(context.Background())
	defer stopGate()
	go func() {
		if err := gate.Serve(gateCtx, gl); err != nil {
			log.Error("guest-start gate stopped: libvirt's hook now refuses every guest start", "err", err)
		}
	}()
	log.Info("agent started", "host", cfg.Host, "boot", boot, "agent", c.ID(), "watchdog", cfg.Watchdog.Device, "resumed", saved != nil)

	in := make(chan agent.Inbound, 64)
	upCtx, stopUp := context.WithCancel(context.Background()) // outlives ctx: the clean stop needs its ack
	defer stopUp()
	go func() { _ = up.Run(upCtx, in) }()
	if len(pools) > 0 {
		// Its own goroutine and context: the agent's reports never wait
		// on a pool, and the pools stop when the agent's loop has.
		probeCtx, stopProbe := context.WithCancel(context.Background())
		probed := make(chan struct{})
		go func() { defer close(probed); pool.NewProber(pools, up, cfg.ReportInterval.Std(), log).Run(probeCtx) }()
		defer func() { stopProbe(); <-probed }()
	}
	return a.Run(ctx, bootClock, cfg.ReportInterval.Std(), StopWait, in)
}

var _ pool.Sender = (*uplink.Uplink)(nil)

// startPools binds every network's peer pool (pools), or none: when the
// file turns them off, or the key file holds no pool key (written before
// the pools: then it says so, and the agent runs without).
func startPools(cfg config.AgentFile, keys wire.HostKeys, log *slog.Logger) ([]*pool.Pool, error) {
	if !cfg.Pools.Enabled {
		return nil, nil
	}
	pk := keys.PoolKeys()
	if len(pk) == 0 {
		log.Error("no peer pools: the key file holds no pool key (written before the pools); write it again (vigil keys host) and restart the agent, or set pools.enabled: false", "key_file", cfg.KeyFile)
		return nil, nil
	}
	var out []*pool.Pool
	for i, n := range cfg.Networks {
		pc := pool.DefaultConfig()
		pc.Network, pc.Host, pc.Bind, pc.Join, pc.Keys = n.Name, cfg.Host, n.PoolAddr(), n.PoolJoin(), pk
		pc.Watch, pc.PingTimeout, pc.Log = cfg.Pools.Watch, cfg.Pools.PingTimeout.Std(), log
		p, err := pool.New(pc)
		if err != nil {
			closePools(out)
			return nil, fmt.Errorf("agent: networks[%d].pool.port: %w", i, err)
		}
		out = append(out, p)
	}
	log.Info("peer pools started", "networks", len(out), "watch", cfg.Pools.Watch, "generation", pk[0].ID)
	return out, nil
}

// closePools leaves every pool at once (a farewell: the peers stop
// probing this host instead of suspecting it), within pool.LeaveTimeout.
func closePools(pools []*pool.Pool) {
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Go(p.Close)
	}
	wg.Wait()
}

// sampler builds the host's probes and starts the guest watcher.
func sampler(ctx context.Context, cfg config.AgentFile, boot string, paths Paths, log *slog.Logger) (*probe.Host, func(), error) {
	var docker probe.ContainerInspector
	service := func(s config.AgentService) (*probe.Service, error) {
		if s.Process != "" {
			pc := probe.DefaultProcConfig(s.Process)
			pc.Root = paths.ProcRoot
			p, err := probe.NewProcProbe(pc)
			return &probe.Service{Prober: p}, err
		}
		if docker == nil {
			c, err := probe.NewDockerClient(probe.DockerConfig{Host: cfg.Services.Docker, Timeout: 2 * time.Second})
			if err != nil {
				return nil, err
			}
			docker = c
		}
		p, err := probe.NewContainerProbe(docker, s.Container, 2*time.Second)
		return &probe.Service{Prober: p}, err
	}
	nova, err := service(cfg.Services.NovaComputeService())
	if err != nil {
		return nil, nil, fmt.Errorf("agent: services.nova_compute: %w", err)
	}
	lv, err := service(cfg.Services.LibvirtdService())
	if err != nil {
		return nil, nil, fmt.Errorf("agent: services.libvirtd: %w", err)
	}
	lc := probe.DefaultLibvirtConfig()
	lc.Socket, lc.URI = cfg.Libvirt.Socket, cfg.Libvirt.URI
	w, err := probe.NewGuestWatcher(lc, log)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: libvirt: %w", err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	return &probe.Host{BootID: boot, NovaCompute: nova, Libvirtd: lv, Guests: w, Log: log}, func() { stop(); <-done }, nil
}

// bootClock is CLOCK_BOOTTIME, the contract's clock.
func bootClock() time.Duration {
	d, err := agent.BootTime()
	if err != nil {
		panic(errors.Join(errors.New("agent: CLOCK_BOOTTIME unreadable"), err)) // Linux has it since 2.6.39
	}
	return d
}

// LockState takes the host's agent lock, state_dir/lock (flock, released
// by the kernel when the process ends), and writes the holder's pid into it.
// A second agent process on the host is refused: vigil's watchdog contract
// rests on one agent process per host at a time (docs/architecture.md, "The
// device itself").
func LockState(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: state_dir %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("agent: state_dir %s is locked by another vigil agent (pid %s): only one agent may run per host; stop it first", dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("agent: state_dir %s: locking %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil
}
