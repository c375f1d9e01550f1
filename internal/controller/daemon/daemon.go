// Package daemon assembles a controller process from the cluster's
// configuration file (vigil controller): the store and election on etcd
// (embedded or external), the control loop and its engine, the agents'
// transport, the collectors (storage heartbeats, Nova, the power of fenced
// hosts), the executor (fence topologies and Nova) and the operators' API.
// The parts are tested on their own; this package only joins them, and in
// an order that keeps the cluster safe: nothing is carried out but by the
// Runner, which acts only within its lease.
package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/executor"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/devices"
	"github.com/vigil-ha/vigil/internal/fence/kdump"
	"github.com/vigil-ha/vigil/internal/heartbeat"
	"github.com/vigil-ha/vigil/internal/journal"
	"github.com/vigil-ha/vigil/internal/notify"
	"github.com/vigil-ha/vigil/internal/nova"
	"github.com/vigil-ha/vigil/internal/wire"
)

// Options are what the process supplies besides the file.
type Options struct {
	// Name picks this controller's entry of controller.members.
	Name     string
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	Log      *slog.Logger
	// Nova, if set, replaces connecting to Nova from the configuration.
	// It may return a nil client: the controller then runs without Nova
	// (its Nova actions are alerted, never carried out): tests, labs and
	// benchmarks only (vigil controller --without-nova).
	Nova func(ctx context.Context) (*nova.Client, error)
	// Registry, if set, receives the metrics (default: a registry of
	// this controller's own, with Go's and the process's).
	Registry *prometheus.Registry
	// Started, if set, is called once everything listens.
	Started func(*Controller)
}

// Controller is a running controller process.
type Controller struct {
	Name   string
	Runner *controller.Runner
	Agents *agentnet.Server
	// API is the operators' API listener's address.
	API net.Addr
	// Events is the log of what this controller decided and did.
	Events *Events
}

// Run runs the controller until ctx ends. It returns an error naming the
// part that failed to start; once running, faults of the world (a BMC, Nova,
// the heartbeat store, etcd) are logged, alerted and retried, never fatal.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	me, err := cfg.Member(opts.Name)
	if err != nil {
		return err
	}
	log = log.With("controller", me.Name)
	k := cfg.Controller
	topos, levels, err := buildTopologies(cfg, opts, log)
	if err != nil {
		return err
	}
	var hosts []string
	var infos []decision.HostInfo
	for _, h := range cfg.Hosts {
		hosts = append(hosts, h.Name)
		infos = append(infos, decision.HostInfo{Name: h.Name, Domain: h.Domain, FenceLevels: levels[h.Name]})
	}
	secrets, err := wire.LoadSecrets(k.Secrets)
	if err != nil {
		return fmt.Errorf("controller.secrets: %w", err)
	}
	keys, err := wire.NewClusterKeys(secrets, hosts)
	if err != nil {
		return fmt.Errorf("controller.secrets %s: %w", k.Secrets, err)
	}
	hbStore, closeHB, err := openHeartbeats(k.Heartbeat)
	if err != nil {
		return err
	}
	defer closeHB()

	cli, closeEtcd, err := connectEtcd(ctx, k, log)
	if err != nil {
		return err
	}
	defer closeEtcd()
	jr := journal.New(cli, k.Etcd.Prefix, int(k.Etcd.LeaseTTL.Std()/time.Second))

	var nc *nova.Client
	if opts.Nova != nil {
		nc, err = opts.Nova(ctx)
	} else {
		nc, err = connectNova(ctx, k.Nova, opts.Getenv)
	}
	if err != nil {
		return err
	}
	if nc == nil {
		log.Warn("running without Nova: evacuations are alerted, never carried out")
	}

	dcfg := cfg.Decision()
	loop := controller.New(func() controller.Policy {
		e, err := decision.New(dcfg)
		if err != nil {
			panic(err) // cfg.Validate checked these settings
		}
		return e
	}, infos, jr)

	acfg := agentnet.DefaultConfig()
	acfg.Log = log.With("part", "agentnet")
	for _, n := range cfg.Networks {
		acfg.Networks = append(acfg.Networks, agentnet.Network{Name: n, Listen: me.Listen[n]})
	}
	srv, err := agentnet.Listen(acfg, keys)
	if err != nil {
		return err
	}
	defer srv.Close()

	events := NewEvents(2000)
	world := &world{servers: map[string][]string{}, boots: map[string]string{}}
	disp := &executor.Dispatch{
		Topos:  topos,
		Target: world.target,
		BootID: world.boot,
		Shadow: k.Mode == "shadow",
		Log:    log.With("part", "executor"),
	}
	r := controller.NewRunner(me.Name, loop, jr, disp, srv.Ack, log.With("part", "loop"))
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	met := newMetrics(reg, r.Status, r.Leading)
	registerTransport(reg, srv.Stats)
	r.TickDone = newTickHistogram(reg).Observe
	report := func(in decision.Input) {
		met.result(in)
		events.Result(time.Now(), in)
		r.Submit(in)
	}
	hook, err := webhook(k.Webhook, me.Name, opts, log)
	if err != nil {
		return err
	}
	disp.Report = report
	disp.Alert = func(a decision.Action) {
		met.alerts.WithLabelValues(a.Code).Inc()
		events.Alert(time.Now(), a)
		if hook != nil {
			hook.Send(notify.Event{Controller: me.Name, At: time.Now(), Host: a.Host, Kind: "alert", Code: a.Code, Rule: a.Rule, Reason: a.Reason})
		}
	}
	r.OnReady = func(rd decision.Ready) {
		met.ready(rd)
		events.Ready(time.Now(), rd)
		if hook != nil {
			for _, t := range rd.Transitions {
				hook.Send(notify.Event{Controller: me.Name, At: t.At, Host: t.Host, Kind: "transition", From: string(t.From), To: string(t.To), Rule: t.Rule, Evidence: t.Evidence})
			}
		}
	}
	if nc != nil {
		check := func(ctx context.Context, host, method string) (nova.FenceState, string) {
			held, lifted, why := executor.Check(ctx, topos, host, method)
			switch {
			case held:
				return nova.FenceHeld, why
			case lifted:
				return nova.FenceLifted, why
			}
			return nova.FenceUnreadable, why
		}
		ne, err := nova.NewExecutor(nc, check, report, nova.DefaultExecConfig(), log.With("part", "nova"))
		if err != nil {
			return err
		}
		disp.Nova = ne
	}

	apiLn, apiSrv, err := serveAPI(me, k.API, opts, &backend{name: me.Name, r: r, events: events, reg: reg, cfg: cfg}, log)
	if err != nil {
		return err
	}
	defer apiSrv.Close()

	c := &Controller{Name: me.Name, Runner: r, Agents: srv, API: apiLn.Addr(), Events: events}
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() { _ = r.Run(ctx) })
	run(func() { _ = srv.Run(ctx, tap{r, world, met}) })
	run(func() { _ = apiSrv.Serve(apiLn) })
	run(func() { readHeartbeats(ctx, hbStore, k.Heartbeat.Every.Std(), r, log) })
	if nc != nil {
		run(func() { readNova(ctx, nc, k.Nova.Every.Std(), r, world, log) })
	}
	pw := &executor.PowerWatch{Topos: topos, Report: func(b decision.BMCReading) { r.Submit(b) }, Log: log.With("part", "power"), Parallel: true}
	run(func() { watchPower(ctx, pw, r) })
	run(func() { watchTerm(ctx, r, met, log) })
	run(func() { keepHistory(ctx, jr, events, r, log.With("part", "history")) })
	if hook != nil {
		run(func() { hook.Run(ctx) })
	}
	// Every fence device is asked its status now and then, so a broken
	// password or a dead BMC is found before the incident that needs it.
	var all []fence.Topology
	for _, h := range hosts {
		if topo, err := topos.Topology(h); err == nil {
			all = append(all, topo)
		}
	}
	mon := fence.NewMonitor(fence.MonitorConfig{Topologies: all, Log: log.With("part", "fence-monitor"), Alert: func(h fence.Health, broken bool) {
		code, reason := "fence-device-broken", fmt.Sprintf("%s (level %d of %s) fails its status call: %v; fix it before %s needs fencing", h.Member, h.Level, h.Host, h.Err, h.Host)
		if !broken {
			code, reason = "fence-device-ok", fmt.Sprintf("%s (level %d of %s) answers again", h.Member, h.Level, h.Host)
		}
		met.alerts.WithLabelValues(code).Inc()
		events.Alert(time.Now(), decision.Action{Kind: decision.ActAlert, Host: h.Host, Code: code, Rule: "fence-monitor", Reason: reason})
		log.Warn("alert", "host", h.Host, "code", code, "reason", reason)
	}}, reg)
	run(func() { mon.Run(ctx) })
	log.Info("controller started", "mode", k.Mode, "hosts", len(hosts), "api", apiLn.Addr().String())
	if opts.Started != nil {
		opts.Started(c)
	}
	<-ctx.Done()
	_ = apiSrv.Close()
	srv.Close()
	wg.Wait()
	disp.Wait()
	log.Info("controller stopped")
	return nil
}

// webhook is the sender of controller.webhook, nil when none is set.
func webhook(w config.Webhook, name string, opts Options, log *slog.Logger) (*notify.Sender, error) {
	if w.URL == "" {
		return nil, nil
	}
	b, err := opts.ReadFile(w.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("controller.webhook.secret_file: %w", err)
	}
	s, err := notify.New(notify.Config{URL: w.URL, Secret: bytes.TrimSpace(b), Log: log.With("part", "webhook")})
	if err != nil {
		return nil, fmt.Errorf("controller.webhook: %w", err)
	}
	return s, nil
}

// topologies builds a host's topology from the configuration on every
// call, so a password file fixed after a failed fence is read at the next
// one; every host shares the device slots and the kdump receiver.
type topologies struct {
	cfg   config.Config
	index map[string]int // host → cfg.Hosts index
	sec   devices.Secrets
	opts  devices.Options
	log   *slog.Logger
}

// Topology builds host's topology anew at each call (a password file
// rotated is read at the next fence or power read).
func (t topologies) Topology(host string) (fence.Topology, error) {
	i, ok := t.index[host]
	if !ok {
		return fence.Topology{}, fmt.Errorf("%w: %q", config.ErrUnknownHost, host)
	}
	return devices.BuildAt(t.cfg, i, t.sec, t.opts, t.log.With("host", host))
}

// buildTopologies checks that every host's topology builds now: a
// controller that could not fence some host must not start.
func buildTopologies(cfg config.Config, opts Options, log *slog.Logger) (topologies, map[string]int, error) {
	t := topologies{cfg: cfg, index: map[string]int{}, sec: devices.Secrets{Getenv: opts.Getenv, ReadFile: opts.ReadFile},
		opts: devices.Options{Probe: true, Slots: &fence.Slots{}, Kdump: kdump.NewReceiver(log)}, log: log.With("part", "fence")}
	for i, h := range cfg.Hosts {
		t.index[h.Name] = i
	}
	levels := map[string]int{}
	for _, h := range cfg.Hosts {
		topo, err := t.Topology(h.Name)
		if err != nil {
			return t, nil, fmt.Errorf("fencing of %s: %w", h.Name, err)
		}
		levels[h.Name] = len(topo.Levels)
	}
	return t, levels, nil
}

func openHeartbeats(hb config.ControllerHeartbeat) (heartbeat.Store, func(), error) {
	switch {
	case hb.Dir != "":
		return heartbeat.Dir{Path: hb.Dir}, func() {}, nil
	case hb.Pool != "":
		conf, user := hb.CephConf, hb.CephUser
		if conf == "" {
			conf = "/etc/ceph/ceph.conf"
		}
		if user == "" {
			user = "vigil-controller"
		}
		s, closeFn, err := heartbeat.OpenRados(conf, user, hb.Pool)
		if err != nil {
			return nil, nil, fmt.Errorf("controller.heartbeat.pool %s: %w", hb.Pool, err)
		}
		return s, closeFn, nil
	}
	return nil, nil, errors.New("config: controller.heartbeat: missing: give dir or pool, where the agents write their storage heartbeats; without it vigil cannot tell a host cut off from the controllers from a dead one")
}

// connectEtcd connects to the external cluster, or starts the embedded one.
func connectEtcd(ctx context.Context, k config.Controller, log *slog.Logger) (*clientv3.Client, func(), error) {
	e := k.Etcd
	if len(e.Endpoints) == 0 {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		emb, err := journal.StartEmbedded(sctx, filepath.Join(k.DataDir, "store"), nil)
		if err != nil {
			return nil, nil, err
		}
		log.Info("embedded etcd started", "endpoint", emb.Endpoint)
		return emb.Client, func() { _ = emb.Close() }, nil
	}
	ecfg := clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if e.Cert != "" {
		pair, err := tls.LoadX509KeyPair(e.Cert, e.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("controller.etcd.cert, key: %w", err)
		}
		pem, err := os.ReadFile(e.CA)
		if err != nil {
			return nil, nil, fmt.Errorf("controller.etcd.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("controller.etcd.ca %s: no PEM certificate in it", e.CA)
		}
		ecfg.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cli, err := clientv3.New(ecfg)
	if err != nil {
		return nil, nil, fmt.Errorf("controller.etcd.endpoints %v: %w", e.Endpoints, err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Get(sctx, e.Prefix, clientv3.WithCountOnly()); err != nil {
		_ = cli.Close()
		hint := "is etcd running there, and reachable from this machine?"
		if e.Cert == "" && strings.HasPrefix(e.Endpoints[0], "https://") {
			hint = "it serves https: does it want a client certificate (controller.etcd.ca, cert, key)?"
		}
		return nil, nil, fmt.Errorf("controller.etcd.endpoints %v: not answering: %w; %s", e.Endpoints, err, hint)
	}
	return cli, func() { _ = cli.Close() }, nil
}

func connectNova(ctx context.Context, n config.Nova, getenv func(string) string) (*nova.Client, error) {
	env := getenv
	if n.Cloud != "" {
		env = func(k string) string {
			if k == "OS_CLOUD" {
				return n.Cloud
			}
			return getenv(k)
		}
	}
	cred, err := nova.CredentialsFromEnv(env)
	if err != nil {
		return nil, fmt.Errorf("controller.nova: %w (set nova.cloud to a clouds.yaml entry, or OS_CLOUD or the OS_* variables of an openrc)", err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := nova.Connect(cctx, cred, nova.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("controller.nova: %w", err)
	}
	return c, nil
}

// world is what the collectors learned that the executor's fences need:
// the instances Nova places on each host, each host's boot id.
type world struct {
	mu      sync.Mutex
	servers map[string][]string
	boots   map[string]string
}

func (w *world) target(_ context.Context, host string) fence.Target {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fence.Target{Instances: append([]string(nil), w.servers[host]...), BootID: w.boots[host]}
}

func (w *world) boot(host string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.boots[host]
}

// tap is the Runner as the agents' transport sees it, noting each host's
// boot id on the way.
type tap struct {
	*controller.Runner
	w   *world
	met *metrics
}

func (t tap) Report(ctx context.Context, rep decision.AgentReport) (decision.Grant, error) {
	if rep.Self.BootID != "" {
		t.w.mu.Lock()
		t.w.boots[rep.Host] = rep.Self.BootID
		t.w.mu.Unlock()
	}
	g, err := t.Runner.Report(ctx, rep)
	if err == nil {
		t.met.grants.Inc()
	}
	return g, err
}

func readHeartbeats(ctx context.Context, s heartbeat.Store, every time.Duration, r *controller.Runner, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		beats, err := s.ReadAll(rctx)
		cancel()
		if err != nil && !failing {
			log.Warn("storage heartbeats unreadable: hosts cut from the controllers cannot be told from dead ones until they are read again", "err", err)
		} else if err == nil && failing {
			log.Info("storage heartbeats readable again")
		}
		failing = err != nil
		if r.Leading() {
			r.Submit(heartbeat.Input(beats, err))
		}
	}
}

// readNova reads Nova every interval, and at once when this controller
// starts leading after a pass it could not submit: a new leader recovers
// no fenced host before it has read Nova in its own term (the engine waits
// for the instance list), so waiting for the next tick would hold a
// restored incident's evacuations for up to every.
func readNova(ctx context.Context, c *nova.Client, every time.Duration, r *controller.Runner, w *world, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	lead := time.NewTicker(250 * time.Millisecond)
	defer lead.Stop()
	for {
		unsubmitted := false // read while this member did not lead: no term has it
		rctx, cancel := context.WithTimeout(ctx, every*4)
		p, err := c.Collect(rctx)
		cancel()
		if err != nil {
			log.Warn("Nova unreadable", "err", err)
		} else {
			byHost := map[string][]string{}
			for _, s := range p.Servers {
				if s.Host != "" {
					byHost[s.Host] = append(byHost[s.Host], s.ID)
				}
			}
			for _, ids := range byHost {
				sort.Strings(ids)
			}
			w.mu.Lock()
			w.servers = byHost
			w.mu.Unlock()
			if r.Leading() {
				for _, ev := range p.Evidence() {
					r.Submit(ev)
				}
			} else {
				unsubmitted = true
			}
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				break wait
			case <-lead.C:
				if unsubmitted && r.Leading() {
					break wait // a new term: read Nova now
				}
			}
		}
	}
}

// watchTerm alerts when this controller stops leading while it runs: its
// lease ran out (etcd unreachable, or the process stalled). It acts no more
// until it is elected again; if the store is gone for every controller,
// none acts: the cluster is frozen, and says so here.
func watchTerm(ctx context.Context, r *controller.Runner, met *metrics, log *slog.Logger) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	was := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.Leading()
		if was && !now && ctx.Err() == nil {
			met.termsLost.Inc()
			log.Error("alert: this controller stopped leading (its etcd lease ran out: etcd unreachable, or this process stalled); it acts no more until elected again, and no controller acts while none can reach etcd", "code", "leadership-lost")
		}
		was = now
	}
}

func watchPower(ctx context.Context, pw *executor.PowerWatch, r *controller.Runner) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.Leading() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := r.Status(sctx)
		cancel()
		if err != nil {
			continue
		}
		pw.Round(ctx, time.Now(), st)
	}
}

// serveAPI listens on the member's API address.
func serveAPI(me config.Member, a config.API, opts Options, b *backend, log *slog.Logger) (net.Listener, *http.Server, error) {
	h, err := apiHandler(a, opts, b, log)
	if err != nil {
		return nil, nil, err
	}
	var conf *tls.Config
	if a.TLSCert != "" {
		if conf, err = api.ServerTLS(a.TLSCert, a.TLSKey); err != nil {
			return nil, nil, fmt.Errorf("controller.api.tls_cert, tls_key: %w", err)
		}
	}
	ln, err := net.Listen("tcp", me.API)
	if err != nil {
		return nil, nil, fmt.Errorf("controller.members[%s].api %s: %w", me.Name, me.API, err)
	}
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}
	return ln, api.NewServer(me.API, h, conf, log.With("part", "api")), nil
}

// Check validates what Run would start from, without starting anything or
// connecting anywhere: this controller's entry, the cluster secret, every
// host's fencing, the heartbeat place and the API's files. It returns a
// one-line summary.
func Check(cfg config.Config, opts Options) (string, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	me, err := cfg.Member(opts.Name)
	if err != nil {
		return "", err
	}
	k := cfg.Controller
	secrets, err := wire.LoadSecrets(k.Secrets)
	if err != nil {
		return "", fmt.Errorf("controller.secrets: %w", err)
	}
	if _, _, err := buildTopologies(cfg, opts, opts.Log); err != nil {
		return "", err
	}
	if k.Heartbeat.Dir == "" && k.Heartbeat.Pool == "" {
		_, _, err := openHeartbeats(k.Heartbeat)
		return "", err
	}
	if _, err := apiHandler(k.API, opts, &backend{name: me.Name}, opts.Log); err != nil {
		return "", err
	}
	if _, err := webhook(k.Webhook, me.Name, opts, opts.Log); err != nil {
		return "", err
	}
	if k.API.TLSCert != "" {
		if _, err := api.ServerTLS(k.API.TLSCert, k.API.TLSKey); err != nil {
			return "", fmt.Errorf("controller.api.tls_cert, tls_key: %w", err)
		}
	}
	store := "embedded etcd in " + k.DataDir
	if len(k.Etcd.Endpoints) > 0 {
		store = fmt.Sprintf("etcd %v", k.Etcd.Endpoints)
	}
	return fmt.Sprintf("controller %s (%s mode), %d hosts, %d networks, %s, key generation(s) %d, API on %s",
		me.Name, k.Mode, len(cfg.Hosts), len(cfg.Networks), store, len(secrets), me.API), nil
}
