// Package hostlab is vigil on real parts in network namespaces: compute
// hosts that are namespaces with a mgmt and a storage network, each behind
// an ipmi_sim BMC whose power-off kills every process of the host and
// downs its links, each running a real `vigil agent` that the BMC's power-on
// starts; and a controller namespace on both networks where `vigil
// controller` processes run (embedded etcd) and the BMCs listen. The hosts'
// storage heartbeats go to a shared directory (the mount namespace is
// shared). Nova is left out (--without-nova) unless Config.Nova names one
// (internal/testbed/novalab runs the OpenStack bed's nova-compute inside the
// lab's hosts); the processes the agents' probes look for (nova-compute,
// libvirtd) are stand-ins either way.
//
// Everything lives in the lab's namespaces and the test's directories; the
// root namespace is never changed, and the lab is torn down with the test.
package hostlab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/child"
	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
	"github.com/vigil-ha/vigil/internal/testbed/vigilbin"
	"github.com/vigil-ha/vigil/internal/wire"
)

// Ports the agents and controllers use on the lab's networks.
const (
	AgentPort      = 7401
	ControllerPort = 7400
	APIAddr        = "127.0.0.1:7421" // inside the controller namespace
)

// Config describes a lab.
type Config struct {
	// Hosts is the number of compute hosts (default 3).
	Hosts int
	// Cluster is YAML added at the top level of the cluster file (e.g.
	// detection: {...}); keys the lab writes itself (networks, fencing,
	// hosts, controller) must not be given.
	Cluster string
	// Nova, when set, makes the controllers use a real Nova that the
	// caller runs (internal/testbed/novalab): the cluster file gets
	// controller.nova, and StartController runs without --without-nova.
	// Nil: no Nova (--without-nova), as before.
	Nova *Nova
}

// Nova is how the lab's controllers reach a Nova run by the caller. The
// lab only passes it on; reaching Nova's endpoints from the controller
// namespace is the caller's to arrange.
type Nova struct {
	// Cloud is controller.nova.cloud: an entry of CloudsYAML.
	Cloud string
	// CloudsYAML is the clouds.yaml file, given to the controllers as
	// OS_CLIENT_CONFIG_FILE.
	CloudsYAML string
	// Every is controller.nova.every (0: vigil's default, 5 s).
	Every time.Duration
}

// Lab is a running lab.
type Lab struct {
	t    testing.TB
	Net  *netns.Lab
	BMCs []*ipmisim.BMC
	// Ctl is the index of the controller namespace in Net.
	Ctl int
	// Hosts are the compute hosts' names: host0, host1, ...
	Hosts []string
	// ClusterFile is the controllers' configuration file.
	ClusterFile string
	// Token is an operator token of the API.
	Token string
	// HTTP reaches the API inside the controller namespace.
	HTTP *http.Client
	dir  string
	bin  string
	mu   sync.Mutex
	svcs map[string]*exec.Cmd
	nova *Nova
}

// Start builds the lab and powers every host on (which starts its agent).
// It fails tb when a part cannot start.
func Start(tb testing.TB, cfg Config) *Lab {
	tb.Helper()
	tier.Integration(tb, tier.Root, "ipmi_sim", "ip", "ping")
	if cfg.Hosts == 0 {
		cfg.Hosts = 3
	}
	ncfg := netns.DefaultConfig(netns.UniquePrefix(tb.Name()))
	ncfg.Hosts = cfg.Hosts + 1 // the last one is the controllers'
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nl, err := netns.Up(ctx, ncfg)
	if err != nil {
		tb.Fatalf("hostlab: %v", err)
	}
	tb.Cleanup(func() { _ = nl.Down(context.Background()) })
	l := &Lab{t: tb, Net: nl, Ctl: cfg.Hosts, dir: tb.TempDir(), bin: vigilbin.Path(tb), nova: cfg.Nova}
	ctlNS := nl.Host(l.Ctl).Namespace
	l.HTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: netns.DialContext(ctlNS)}}
	for i := range cfg.Hosts {
		l.Hosts = append(l.Hosts, nl.Host(i).Name)
	}

	s, err := wire.NewSecret(1)
	if err != nil {
		tb.Fatal(err)
	}
	secret := l.path("cluster.secret")
	l.write(secret, string(wire.FormatSecrets([]wire.Secret{s})))
	hb := l.path("heartbeats")
	if err := os.Mkdir(hb, 0o700); err != nil {
		tb.Fatal(err)
	}
	l.Token = strings.Repeat("0123456789abcdef", 3)
	l.write(l.path("operator.tokens"), "lab:"+l.Token+"\n")
	l.startServices()

	// BMCs: listening in the controller namespace, powering each host,
	// whose power-on runs its agent.
	for i, h := range l.Hosts {
		agentCfg := l.agentFile(i, s, hb)
		bc := ipmisim.DefaultConfig(nl.Host(i).Namespace, l.path("bmc"))
		bc.ListenNamespace = ctlNS
		bc.HostCommand = []string{l.bin, "agent", "--config", agentCfg}
		b, err := ipmisim.Start(ctx, bc)
		if err != nil {
			tb.Fatalf("hostlab: BMC of %s: %v", h, err)
		}
		l.BMCs = append(l.BMCs, b)
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Log(b.Logs())
				out, _ := os.ReadFile(filepath.Join(l.path("bmc"), nl.Host(i).Namespace, "host.log"))
				tb.Logf("agent of %s:\n%s", h, tail(string(out), 4000))
			}
			b.Stop()
		})
		l.write(l.path(h+".bmc.pass"), b.Password()+"\n")
	}
	var y strings.Builder
	y.WriteString("networks: [mgmt, storage]\n")
	y.WriteString(cfg.Cluster)
	y.WriteString("\nfencing:\n  domains:\n    default:\n      levels:\n        - - {driver: ipmi, username: admin, password_file: /nonexistent}\nhosts:\n")
	for i, h := range l.Hosts {
		fmt.Fprintf(&y, "  - name: %s\n    storage_ips: [%s]\n    bmc: {address: %s, port: %d}\n", h, nl.Addr(i, "storage"), ipmisim.Address, l.BMCs[i].Port())
		fmt.Fprintf(&y, "    fencing:\n      levels:\n        - - {driver: ipmi, username: %s, password_file: %s, timeout: 10s}\n", l.BMCs[i].Username(), l.path(h+".bmc.pass"))
	}
	fmt.Fprintf(&y, `controller:
  data_dir: %s
  secrets: %s
  heartbeat: {dir: %s}
  api: {operator_tokens: %s}
  members:
    - {name: ctl1, api: %q, listen: {mgmt: %q, storage: %q}}
`, l.path("data"), secret, hb, l.path("operator.tokens"), APIAddr,
		netip.AddrPortFrom(nl.Addr(l.Ctl, "mgmt"), ControllerPort), netip.AddrPortFrom(nl.Addr(l.Ctl, "storage"), ControllerPort))
	if n := cfg.Nova; n != nil {
		fmt.Fprintf(&y, "  nova: {cloud: %q", n.Cloud)
		if n.Every > 0 {
			fmt.Fprintf(&y, ", every: %s", n.Every)
		}
		y.WriteString("}\n")
	}
	l.ClusterFile = l.path("vigil.yaml")
	l.write(l.ClusterFile, y.String())
	for i, b := range l.BMCs {
		if err := b.SetPower(ctx, true); err != nil {
			tb.Fatalf("hostlab: power on %s: %v", l.Hosts[i], err)
		}
	}
	return l
}

// agentFile writes host i's agent file and key and returns its path.
func (l *Lab) agentFile(i int, s wire.Secret, hb string) string {
	h := l.Hosts[i]
	key, err := wire.FormatHostKeys([]wire.Secret{s}, h)
	if err != nil {
		l.t.Fatal(err)
	}
	keyPath := l.path(h + ".key")
	l.write(keyPath, string(key))
	var a strings.Builder
	fmt.Fprintf(&a, "host: %s\nkey_file: %s\nstate_dir: %s\nnetworks:\n", h, keyPath, l.path(h+"-state"))
	for _, n := range []string{"mgmt", "storage"} {
		fmt.Fprintf(&a, "  - name: %s\n    listen: %q\n    controllers: [%q]\n", n,
			netip.AddrPortFrom(l.Net.Addr(i, n), AgentPort), netip.AddrPortFrom(l.Net.Addr(l.Ctl, n), ControllerPort))
		if len(l.Hosts) > 1 {
			p := (i + 1) % len(l.Hosts)
			fmt.Fprintf(&a, "    peers: [{host: %s, addr: %q}]\n", l.Hosts[p], netip.AddrPortFrom(l.Net.Addr(p, n), AgentPort))
		}
	}
	fmt.Fprintf(&a, `isolation: {timeout: 10s, response: none}
services: {nova_compute: {process: nova-compute}, libvirtd: {process: libvirtd}}
libvirt: {socket: %s, hook: %s}
heartbeat: {dir: %s}
`, l.path("no-libvirt.sock"), l.path("no-hook"), hb)
	p := l.path(h + ".yaml")
	l.write(p, a.String())
	return p
}

// startServices runs the stand-ins of nova-compute and libvirtd (sleep
// under their names) that the agents' process probes find.
func (l *Lab) startServices() {
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		l.t.Fatal(err)
	}
	for _, svc := range []string{"nova-compute", "libvirtd"} {
		if err := os.WriteFile(l.path(svc), sleep, 0o700); err != nil {
			l.t.Fatal(err)
		}
		l.StartService(svc)
	}
}

// StartService starts the stand-in of svc (nova-compute, libvirtd): every
// host's agent sees it running (one for the whole lab).
func (l *Lab) StartService(svc string) {
	cmd := exec.Command(l.path(svc), "infinity")
	if err := child.Start(cmd); err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	if l.svcs == nil {
		l.svcs = map[string]*exec.Cmd{}
	}
	l.svcs[svc] = cmd
	l.mu.Unlock()
	l.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// StopService stops svc's stand-in: on every host, as the seed's operator
// stopped nova-compute on his.
func (l *Lab) StopService(svc string) {
	l.mu.Lock()
	cmd := l.svcs[svc]
	delete(l.svcs, svc)
	l.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Controller is a running `vigil controller` process.
type Controller struct {
	Cmd     *exec.Cmd
	Log     string    // its log file
	Started time.Time // when its API first answered
	kill    sync.Once
}

// Kill SIGKILLs the controller process and waits until it is gone (a
// crash: nothing of it runs after Kill returns). Safe to call again.
func (c *Controller) Kill() {
	c.kill.Do(func() {
		_ = c.Cmd.Process.Kill()
		_ = c.Cmd.Wait()
	})
}

// FailoverGrace is the cluster's default detection.failover_grace: a new
// leader judges no host failed before it is over.
const FailoverGrace = 10 * time.Second

// AfterGrace waits until c's failover grace is surely over (a second
// more), so a fault injected next is judged like one in a running cloud.
func (c *Controller) AfterGrace() {
	time.Sleep(time.Until(c.Started.Add(FailoverGrace + time.Second)))
}

// StartController runs controller ctl1 in the controller namespace until
// the test ends, and waits until its API answers.
func (l *Lab) StartController() *Controller {
	l.t.Helper()
	c := &Controller{Log: l.path(fmt.Sprintf("ctl1-%d.log", time.Now().UnixNano()))}
	logf, err := os.Create(c.Log)
	if err != nil {
		l.t.Fatal(err)
	}
	args := []string{"controller", "--config", l.ClusterFile, "--name", "ctl1"}
	if l.nova == nil {
		args = append(args, "--without-nova")
	}
	c.Cmd = l.Net.Command(context.Background(), l.Ctl, l.bin, args...)
	if l.nova != nil {
		// The test's own OS_* variables (an operator's openrc) must not
		// steer the controller away from the lab's cloud.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OS_") {
				c.Cmd.Env = append(c.Cmd.Env, kv)
			}
		}
		c.Cmd.Env = append(c.Cmd.Env, "OS_CLIENT_CONFIG_FILE="+l.nova.CloudsYAML)
	}
	c.Cmd.Stdout, c.Cmd.Stderr = logf, logf
	if err := child.Start(c.Cmd); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		c.Kill()
		logf.Close()
		if l.t.Failed() {
			out, _ := os.ReadFile(c.Log)
			l.t.Logf("controller log:\n%s", tail(string(out), 8000))
		}
	})
	tier.Eventually(l.t, time.Minute, "the controller's API answers", func() error {
		_, err := l.get("/healthz")
		return err
	})
	c.Started = time.Now()
	return c
}

// get reads path of the API with the lab's token.
func (l *Lab) get(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", "http://"+APIAddr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.Token)
	resp, err := l.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// HostState is a host as the API's status shows it.
type HostState struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Rule  string `json:"rule"`
}

// Status is every host's state, as the leading controller's API says.
func (l *Lab) Status() ([]HostState, error) {
	b, err := l.get("/v1/status")
	if err != nil {
		return nil, err
	}
	var out []HostState
	if err := json.Unmarshal(b, &out); err != nil {
		var wrapped struct {
			Hosts []HostState `json:"hosts"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			return nil, fmt.Errorf("status: %w: %s", err, b)
		}
		out = wrapped.Hosts
	}
	return out, nil
}

// Metrics is the controller's /metrics text.
func (l *Lab) Metrics() (string, error) {
	b, err := l.get("/metrics")
	return string(b), err
}

// WaitState waits until host is in one of the states and returns when it
// got there, failing the test after within.
func (l *Lab) WaitState(host string, within time.Duration, states ...string) time.Time {
	l.t.Helper()
	tier.Eventually(l.t, within, fmt.Sprintf("%s is %v", host, states), func() error {
		st, err := l.Status()
		if err != nil {
			return err
		}
		for _, s := range st {
			if s.Name != host {
				continue
			}
			for _, w := range states {
				if s.State == w {
					return nil
				}
			}
			return fmt.Errorf("%s is %s (%s)", host, s.State, s.Rule)
		}
		return fmt.Errorf("no host %s in %v", host, st)
	})
	return time.Now()
}

func (l *Lab) path(name string) string { return filepath.Join(l.dir, name) }

func (l *Lab) write(path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		l.t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Events is host's recent history as the API's GET /v1/hosts/{host} shows
// it: one line per event, for a test's log.
func (l *Lab) Events(host string) string {
	b, err := l.get("/v1/hosts/" + host)
	if err != nil {
		return err.Error()
	}
	var d struct {
		Events []struct {
			At       time.Time `json:"at"`
			Kind     string    `json:"kind"`
			From     string    `json:"from"`
			To       string    `json:"to"`
			Rule     string    `json:"rule"`
			Action   string    `json:"action"`
			Reason   string    `json:"reason"`
			Evidence []string  `json:"evidence"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return err.Error()
	}
	var out strings.Builder
	for _, e := range d.Events {
		fmt.Fprintf(&out, "%s %-10s %s%s→%s %s %s %s\n", e.At.Format("15:04:05.000"), e.Kind, e.Action, e.From, e.To, e.Rule, e.Reason, strings.Join(e.Evidence, "; "))
	}
	return out.String()
}

// Burn runs n busy loops inside host i's namespace (a host under full CPU
// load) until the returned func is called or the test ends.
func (l *Lab) Burn(i, n int) (stop func()) {
	var cmds []*exec.Cmd
	for range n {
		cmd := l.Net.Command(context.Background(), i, "sh", "-c", "while :; do :; done")
		if err := child.Start(cmd); err != nil {
			l.t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	l.t.Cleanup(stop)
	return stop
}

// Drop makes host i drop each packet it sends or receives with probability
// p (iptables' statistic match, inside the host's namespace; this kernel
// has no netem), until the returned func is called.
func (l *Lab) Drop(i int, p float64) (stop func()) {
	prob := strconv.FormatFloat(p, 'f', 4, 64)
	rule := func(op, chain string) error {
		out, err := l.Net.Command(context.Background(), i, "iptables", op, chain, "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP").CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s %s: %v: %s", op, chain, err, out)
		}
		return nil
	}
	for _, c := range []string{"INPUT", "OUTPUT"} {
		if err := rule("-A", c); err != nil {
			l.t.Fatal(err)
		}
	}
	return func() {
		for _, c := range []string{"INPUT", "OUTPUT"} {
			_ = rule("-D", c)
		}
	}
}

// Dropped is how many packets Drop's rules have dropped on host i so far.
func (l *Lab) Dropped(i int) int {
	n := 0
	for _, c := range []string{"INPUT", "OUTPUT"} {
		out, err := l.Net.Command(context.Background(), i, "iptables", "-L", c, "-v", "-n", "-x").CombinedOutput()
		if err != nil {
			l.t.Fatalf("iptables -L %s: %v: %s", c, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 2 && f[2] == "DROP" {
				if v, err := strconv.Atoi(f[0]); err == nil {
					n += v
				}
			}
		}
	}
	return n
}

// CLI runs `vigil ARGS...` inside the controller namespace against the
// controller's API, with the lab's operator token, and returns its output.
func (l *Lab) CLI(args ...string) (string, error) {
	tok := l.path("operator.token")
	if _, err := os.Stat(tok); err != nil {
		l.write(tok, l.Token+"\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append(args, "--url", "http://"+APIAddr, "--token-file", tok)
	out, err := l.Net.Command(ctx, l.Ctl, l.bin, args...).CombinedOutput()
	return string(out), err
}
