package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller/daemon"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/notify"
	"github.com/vigil-ha/vigil/internal/nova"
	"github.com/vigil-ha/vigil/internal/testbed/child"
	"github.com/vigil-ha/vigil/internal/testbed/ctlbed"
	"github.com/vigil-ha/vigil/internal/testbed/etcd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
	"github.com/vigil-ha/vigil/internal/testbed/vigilbin"
	"github.com/vigil-ha/vigil/internal/wire"
)

func TestMain(m *testing.M) {
	code := m.Run()
	vigilbin.Remove()
	os.Exit(code)
}

// bed is two controllers (daemon.Run in this process, on Debian's etcd)
// and three compute hosts, each a real `vigil agent` process, all on
// loopback addresses 127.R.n.x (R drawn per test, n the network: 1 mgmt,
// 2 storage). Nova is left out (no OpenStack here: its part is tested
// against the real one in internal/nova); the hosts' BMCs are addresses
// where nothing listens, so every fence fails, as a BMC that is down does.
type bed struct {
	hook   *hookReceiver
	t      *testing.T
	dir    string
	r      byte
	etcd   *etcd.Server
	cfg    config.Config
	agents map[string]*exec.Cmd

	mu   sync.Mutex
	ctls map[string]*ctl
}

type ctl struct {
	c    *daemon.Controller
	stop context.CancelFunc
	done chan error
}

var hosts = []string{"cmp1", "cmp2", "cmp3"}

// hookSecret signs the bed's webhook deliveries.
var hookSecret = []byte("webhook-secret-of-the-daemon-test-bed")

// hookReceiver is the operators' webhook: it verifies each delivery's
// signature and keeps the events.
type hookReceiver struct {
	t  *testing.T
	mu sync.Mutex
	ev []notify.Event
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := notify.Verify(hookSecret, r.Header.Get(notify.TimestampHeader), r.Header.Get(notify.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		h.t.Errorf("webhook delivery: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev notify.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		h.t.Errorf("webhook delivery: %v", err)
		return
	}
	h.mu.Lock()
	h.ev = append(h.ev, ev)
	h.mu.Unlock()
}

func (h *hookReceiver) has(host, kind, what string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.ev {
		if e.Host == host && e.Kind == kind && (e.To == what || e.Code == what) {
			return true
		}
	}
	return false
}

// operatorToken is the API's operator token on the bed (alice's).
const operatorToken = "operator-token-of-the-daemon-test-bed-0123456789"

// readerToken is the API's reader token on the bed.
const readerToken = "reader-token-of-the-daemon-test-bed-0123456789"

func (b *bed) addr(network, x, port int) string {
	return fmt.Sprintf("127.%d.%d.%d:%d", b.r, network, x, port)
}

// deadPort is a loopback TCP port nothing listens on (the BMCs'): taken
// and released.
func deadPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bedOpts vary the bed.
type bedOpts struct {
	embedded bool // one controller on its embedded etcd, not two on Debian's
	shadow   bool // controller.mode: shadow
	tls      bool // Debian's etcd over https with client certificates
}

func newBed(t *testing.T, o bedOpts) *bed {
	tier.Integration(t, "etcd")
	b := &bed{t: t, dir: t.TempDir(), r: byte(10 + rand.IntN(240)), agents: map[string]*exec.Cmd{}, ctls: map[string]*ctl{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	store := fmt.Sprintf("data_dir: %s", filepath.Join(b.dir, "data"))
	members := []string{"ctl1"}
	switch {
	case o.tls:
		if b.etcd, err = etcd.StartTLS(ctx, filepath.Join(b.dir, "etcd")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.etcd.Stop)
		c := b.etcd.TLS
		store = fmt.Sprintf("etcd: {endpoints: [%s], lease_ttl: 2s, ca: %s, cert: %s, key: %s}", b.etcd.URL, c.CA, c.Cert, c.Key)
		members = append(members, "ctl2")
	case !o.embedded:
		if b.etcd, err = etcd.Start(ctx, filepath.Join(b.dir, "etcd")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.etcd.Stop)
		store = fmt.Sprintf("etcd: {endpoints: [%s], lease_ttl: 2s}", b.etcd.URL)
		members = append(members, "ctl2")
	}
	mode := "active"
	if o.shadow {
		mode = "shadow"
	}

	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(b.dir, "cluster.secret")
	write(t, secret, string(wire.FormatSecrets([]wire.Secret{s})))
	write(t, filepath.Join(b.dir, "bmc.pass"), "secret\n")
	hb := filepath.Join(b.dir, "heartbeats")
	if err := os.Mkdir(hb, 0o700); err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, `networks: [mgmt, storage]
fencing:
  domains:
    default:
      levels:
        - - {driver: ipmi, username: admin, password_file: %s/bmc.pass, timeout: 6s, retries: 0}
hosts:
`, b.dir)
	for _, h := range hosts {
		fmt.Fprintf(&y, "  - {name: %s, bmc: {address: 127.0.0.1, port: %d}}\n", h, deadPort(t))
	}
	write(t, filepath.Join(b.dir, "reader.tokens"), readerToken+"\n")
	write(t, filepath.Join(b.dir, "operator.tokens"), "alice:"+operatorToken+"\n")
	write(t, filepath.Join(b.dir, "webhook.secret"), string(hookSecret)+"\n")
	b.hook = &hookReceiver{t: t}
	hookSrv := httptest.NewServer(b.hook)
	t.Cleanup(hookSrv.Close)
	fmt.Fprintf(&y, `controller:
  mode: %s
  secrets: %s
  %s
  heartbeat: {dir: %s}
  api: {reader_tokens: %s, operator_tokens: %s}
  webhook: {url: %s, secret_file: %s}
  members:
`, mode, secret, store, hb, filepath.Join(b.dir, "reader.tokens"), filepath.Join(b.dir, "operator.tokens"), hookSrv.URL, filepath.Join(b.dir, "webhook.secret"))
	for i, name := range members {
		fmt.Fprintf(&y, "    - {name: %s, api: 127.0.0.1:%d, listen: {mgmt: %q, storage: %q}}\n",
			name, deadPort(t), b.addr(1, i+1, 7400), b.addr(2, i+1, 7400))
	}
	cfgPath := filepath.Join(b.dir, "vigil.yaml")
	write(t, cfgPath, y.String())
	if b.cfg, err = config.Load(cfgPath); err != nil {
		t.Fatalf("%v\n%s", err, y.String())
	}

	// nova-compute and libvirtd, as the agents' process probes find them:
	// stand-ins (sleep under their names) for the services this bed has not.
	for _, svc := range []string{"nova-compute", "libvirtd"} {
		exe := filepath.Join(b.dir, svc)
		sleep, err := os.ReadFile("/bin/sleep")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, sleep, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "3600")
		if err := child.Start(cmd); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}

	bin := vigilbin.Path(t)
	for i, h := range hosts {
		key, err := wire.FormatHostKeys([]wire.Secret{s}, h)
		if err != nil {
			t.Fatal(err)
		}
		keyPath := filepath.Join(b.dir, h+".key")
		write(t, keyPath, string(key))
		var a strings.Builder
		fmt.Fprintf(&a, "host: %s\nkey_file: %s\nstate_dir: %s\nnetworks:\n", h, keyPath, filepath.Join(b.dir, h+"-state"))
		for n, name := range []string{"mgmt", "storage"} {
			fmt.Fprintf(&a, "  - {name: %s, listen: %q, controllers: [%q, %q]}\n", name, b.addr(n+1, 10+i, 7401),
				b.addr(n+1, 1, 7400), b.addr(n+1, 2, 7400))
		}
		fmt.Fprintf(&a, `isolation: {timeout: 10s, response: none}
services: {nova_compute: {process: nova-compute}, libvirtd: {process: libvirtd}}
libvirt: {socket: %s/no-libvirt.sock, hook: %s/no-hook}
heartbeat: {dir: %s}
`, b.dir, b.dir, hb)
		agentPath := filepath.Join(b.dir, h+".yaml")
		write(t, agentPath, a.String())
		cmd := exec.Command(bin, "agent", "--config", agentPath)
		logf, err := os.Create(filepath.Join(b.dir, h+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := child.Start(cmd); err != nil {
			t.Fatal(err)
		}
		b.agents[h] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			logf.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logf.Name())
				t.Logf("agent %s log:\n%s", h, tail(string(out), 3000))
			}
		})
	}
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs controller name in this process.
func (b *bed) start(name string) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *daemon.Controller, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(&testWriter{t: b.t, name: name}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() {
		done <- daemon.Run(ctx, b.cfg, daemon.Options{Name: name, Log: log,
			Nova:    func(context.Context) (*nova.Client, error) { return nil, nil },
			Started: func(c *daemon.Controller) { started <- c }})
	}()
	select {
	case c := <-started:
		b.mu.Lock()
		b.ctls[name] = &ctl{c: c, stop: cancel, done: done}
		b.mu.Unlock()
		b.t.Cleanup(func() { b.stop(name) })
	case err := <-done:
		cancel()
		b.t.Fatalf("controller %s: %v", name, err)
	case <-time.After(time.Minute):
		b.t.Fatalf("controller %s did not start", name)
	}
}

func (b *bed) stop(name string) {
	b.mu.Lock()
	c := b.ctls[name]
	delete(b.ctls, name)
	b.mu.Unlock()
	if c != nil {
		c.stop()
		if err := <-c.done; err != nil {
			b.t.Errorf("controller %s stopped with %v", name, err)
		}
	}
}

// testWriter logs a controller's lines into the test's log.
type testWriter struct {
	t    *testing.T
	name string
	mu   sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("%s: %s", w.name, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// leader waits until exactly one controller leads and returns it.
func (b *bed) leader(within time.Duration) *daemon.Controller {
	b.t.Helper()
	var got *daemon.Controller
	ctlbed.Eventually(b.t, within, "one controller leads", func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		var leading []*daemon.Controller
		for _, c := range b.ctls {
			if c.c.Runner.Leading() {
				leading = append(leading, c.c)
			}
		}
		if len(leading) != 1 {
			return fmt.Errorf("%d lead", len(leading))
		}
		got = leading[0]
		return nil
	})
	return got
}

// scrape reads c's /metrics.
func scrape(t *testing.T, c *daemon.Controller) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+c.API.String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// state is host's state as c's engine sees it.
func state(c *daemon.Controller, host string) (decision.HostStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.Runner.Status(ctx)
	if err != nil {
		return decision.HostStatus{}, err
	}
	for _, s := range st {
		if s.Name == host {
			return s, nil
		}
	}
	return decision.HostStatus{}, fmt.Errorf("no host %s", host)
}

func (b *bed) waitState(c *daemon.Controller, host string, within time.Duration, want ...decision.State) decision.HostStatus {
	b.t.Helper()
	var s decision.HostStatus
	ctlbed.Eventually(b.t, within, fmt.Sprintf("%s is %v", host, want), func() error {
		var err error
		if s, err = state(c, host); err != nil {
			return err
		}
		for _, w := range want {
			if s.State == w {
				return nil
			}
		}
		return fmt.Errorf("%s is %s (%s)", host, s.State, s.Rule)
	})
	return s
}

// Two controllers on Debian's etcd with three real agents: one leads and
// every host turns healthy on the agents' reports and storage heartbeats.
// An agent killed (its reports and heartbeat stop, as at a power loss) is
// judged failed and fenced; its BMC does not answer, so the fence fails,
// is alerted and retried, and nothing is evacuated. The leader stopped, the
// other takes over from the journal: the host is still failed, its fence
// still retried.
func TestControllersOnEtcdWithRealAgents(t *testing.T) {
	b := newBed(t, bedOpts{})
	b.start("ctl1")
	b.start("ctl2")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}

	if err := b.agents["cmp3"].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.waitState(lead, "cmp3", 30*time.Second, decision.Fencing, decision.Failed)
	ctlbed.Eventually(t, 60*time.Second, "the failed fence is alerted", func() error {
		for _, ev := range lead.Events.Last("cmp3", 0) {
			if ev.Action == "alert(fence-failed)" {
				return nil
			}
		}
		return errors.New("no fence-failed alert yet")
	})
	for _, ev := range lead.Events.Last("", 0) {
		if ev.Kind == "action" && strings.HasPrefix(ev.Action, "evacuate") {
			t.Fatalf("evacuation sent with no verified fence: %+v", ev)
		}
	}
	for _, h := range []string{"cmp1", "cmp2"} {
		if s, _ := state(lead, h); s.State != decision.Healthy {
			t.Fatalf("%s is %s (%s) while cmp3 failed; want healthy", h, s.State, s.Rule)
		}
	}
	ctlbed.Eventually(t, 10*time.Second, "the webhook hears of cmp3's failure and its failed fence", func() error {
		if !b.hook.has("cmp3", "transition", "fencing") || !b.hook.has("cmp3", "alert", "fence-failed") {
			return errors.New("not yet")
		}
		return nil
	})
	m := scrape(t, lead)
	for _, want := range []string{"vigil_leader 1", "vigil_detections_total 1", `vigil_fences_total{method="ipmi",result="failed"}`,
		`vigil_hosts{state="healthy"} 2`, `vigil_alerts_total{code="fence-failed"}`, "vigil_grants_total",
		`vigil_agent_packets_total{result="taken"}`, `vigil_agent_sent_total{kind="grant"}`, "vigil_loop_tick_seconds_count"} {
		if !strings.Contains(m, want) {
			t.Errorf("the leader's /metrics lack %q", want)
		}
	}
	for _, zero := range []string{`vigil_agent_packets_total{result="taken"} 0`, `vigil_agent_sent_total{kind="grant"} 0`, "vigil_loop_tick_seconds_count 0"} {
		if strings.Contains(m, zero+"\n") {
			t.Errorf("the leader's /metrics say %q while its agents report", zero)
		}
	}

	time.Sleep(1500 * time.Millisecond) // the history is written once a second
	stopped := time.Now()
	b.stop(lead.Name)
	next := b.leader(30 * time.Second)
	if next.Name == lead.Name {
		t.Fatalf("%s still leads after it stopped", lead.Name)
	}
	ctlbed.Eventually(t, 10*time.Second, "the new leader explains what its predecessor decided", func() error {
		for _, ev := range next.Events.Last("cmp3", 0) {
			if ev.Kind == "transition" && ev.To == "fencing" && ev.At.Before(stopped) {
				return nil
			}
		}
		return errors.New("no transition of cmp3 to fencing from before the failover in its history")
	})
	s := b.waitState(next, "cmp3", 60*time.Second, decision.Fencing, decision.Failed)
	t.Logf("after the failover: cmp3 %s (%s) %s", s.State, s.Rule, s.Reason)
	for _, h := range []string{"cmp1", "cmp2"} {
		b.waitState(next, h, 30*time.Second, decision.Healthy)
	}
	ctlbed.Eventually(t, 60*time.Second, "the new leader retries the fence", func() error {
		for _, ev := range next.Events.Last("cmp3", 0) {
			if ev.Kind == "action" && strings.HasPrefix(ev.Action, "fence") {
				return nil
			}
		}
		return errors.New("no fence sent by the new leader yet")
	})
}

// One controller on its embedded etcd, in shadow mode: it judges the killed
// host failed and logs the fence it would send, and touches nothing: no
// fence goes to the BMC (no fence result ever comes back), no alert of a
// failed fence.
func TestShadowControllerOnEmbeddedEtcdTouchesNothing(t *testing.T) {
	b := newBed(t, bedOpts{embedded: true, shadow: true})
	b.start("ctl1")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}
	if err := b.agents["cmp3"].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.waitState(lead, "cmp3", 30*time.Second, decision.Fencing)
	ctlbed.Eventually(t, 30*time.Second, "the fence it would send is journaled", func() error {
		for _, ev := range lead.Events.Last("cmp3", 0) {
			if ev.Kind == "action" && strings.HasPrefix(ev.Action, "fence") {
				return nil
			}
		}
		return errors.New("no fence decided yet")
	})
	// A real fence of this dead BMC fails within a second (the other
	// test); give it ten.
	time.Sleep(10 * time.Second)
	for _, ev := range lead.Events.Last("", 0) {
		if ev.Action == "alert(fence-failed)" {
			t.Fatalf("shadow mode: a fence went out and failed: %+v", ev)
		}
	}
	if s, _ := state(lead, "cmp3"); s.State != decision.Fencing {
		t.Fatalf("shadow mode: cmp3 is %s (%s); want fencing, waiting on a fence that never went out", s.State, s.Rule)
	}
}

// The store lost: the leader's etcd stops answering (SIGSTOP). Within its
// lease neither controller leads; a host that dies meanwhile is not fenced
// by anyone while the store is gone (a controller that cannot write its
// journal must not act). With etcd back, one leads again, waits out its
// failover grace, and fences the dead host.
func TestStoreLostFreezesThenResumes(t *testing.T) {
	b := newBed(t, bedOpts{})
	b.start("ctl1")
	b.start("ctl2")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}
	if err := b.etcd.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			_ = b.etcd.Resume()
		}
	}()
	ctlbed.Eventually(t, 10*time.Second, "no controller leads without its store", func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for name, c := range b.ctls {
			if c.c.Runner.Leading() {
				return fmt.Errorf("%s still leads", name)
			}
		}
		return nil
	})
	t.Logf("no leader %v after etcd stopped answering (lease_ttl 2s)", time.Since(paused).Round(10*time.Millisecond))
	ctlbed.Eventually(t, 5*time.Second, "the lost term is counted", func() error {
		if m := scrape(t, lead); !strings.Contains(m, "vigil_terms_lost_total 1") {
			return errors.New("vigil_terms_lost_total is not 1")
		}
		return nil
	})
	if err := b.agents["cmp3"].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second) // past dead_after (6 s) and a fence's time
	b.mu.Lock()
	for name, c := range b.ctls {
		for _, ev := range c.c.Events.Last("cmp3", 0) {
			if ev.At.After(paused) && strings.HasPrefix(ev.Action, "fence(") {
				t.Errorf("%s sent %s at %s while its store was gone", name, ev.Action, ev.At.Format("15:04:05.000"))
			}
		}
		if c.c.Runner.Leading() {
			t.Errorf("%s leads with its store gone", name)
		}
	}
	b.mu.Unlock()
	if err := b.etcd.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	next := b.leader(30 * time.Second)
	b.waitState(next, "cmp3", 60*time.Second, decision.Fencing, decision.Failed)
	ctlbed.Eventually(t, 60*time.Second, "the dead host's fence goes out once the store is back", func() error {
		for _, ev := range next.Events.Last("cmp3", 0) {
			if strings.HasPrefix(ev.Action, "fence(") {
				return nil
			}
		}
		return errors.New("no fence yet")
	})
}

// Kolla-Ansible's etcd: https with client certificates. Two controllers
// with the certificate lead in turn; one without it is refused at start,
// naming the endpoint.
func TestControllersOnTLSEtcd(t *testing.T) {
	b := newBed(t, bedOpts{tls: true})
	b.start("ctl1")
	b.start("ctl2")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}
	b.stop(lead.Name)
	next := b.leader(30 * time.Second)
	if next.Name == lead.Name {
		t.Fatalf("%s still leads", lead.Name)
	}
	for _, h := range hosts {
		b.waitState(next, h, 60*time.Second, decision.Healthy)
	}

	noCert := b.cfg
	noCert.Controller.Etcd.CA, noCert.Controller.Etcd.Cert, noCert.Controller.Etcd.Key = "", "", ""
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := daemon.Run(ctx, noCert, daemon.Options{Name: "ctl1", Nova: func(context.Context) (*nova.Client, error) { return nil, nil }})
	if err == nil || !strings.Contains(err.Error(), "controller.etcd.endpoints") || !strings.Contains(err.Error(), b.etcd.URL) {
		t.Fatalf("a controller without the client certificate: %v; want an error naming controller.etcd.endpoints and %s", err, b.etcd.URL)
	}
	t.Logf("without the certificate: %v", err)
}

// An operator puts cmp3 in maintenance through the leader's API, then the
// leader stops: the next leader has cmp3 in maintenance from its first
// moment (the setting is in etcd, not in the old leader's memory), and the
// operator stopping cmp3's agent for their work is no reason to fence it.
// Before the settings were kept in the store, the new leader judged cmp3
// failed and fenced it.
func TestMaintenanceSurvivesFailover(t *testing.T) {
	b := newBed(t, bedOpts{})
	b.start("ctl1")
	b.start("ctl2")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}
	req, err := http.NewRequest("POST", "http://"+lead.API.String()+"/v1/hosts/cmp3/maintenance", strings.NewReader(`{"on": true, "reason": "replacing a DIMM"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("maintenance on: %s %s", resp.Status, body)
	}
	b.waitState(lead, "cmp3", 10*time.Second, decision.Maintenance)
	b.stop(lead.Name)
	next := b.leader(30 * time.Second)
	// (Its first tick enters it; the setting was stepped before any.)
	b.waitState(next, "cmp3", 5*time.Second, decision.Maintenance)
	if err := b.agents["cmp3"].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second) // past failover_grace (10 s) and dead_after (6 s)
	for _, ev := range next.Events.Last("cmp3", 0) {
		if strings.HasPrefix(ev.Action, "fence(") {
			t.Fatalf("the new leader fenced cmp3 in maintenance: %+v", ev)
		}
	}
	if s, _ := state(next, "cmp3"); s.State != decision.Maintenance {
		t.Fatalf("cmp3 is %s (%s); want maintenance", s.State, s.Rule)
	}
}

// post sends an operator's command to c's API.
func post(t *testing.T, c *daemon.Controller, path, body string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+c.API.String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
}

// vigil pause through the leader's API: a host that dies meanwhile is held,
// not fenced, by this leader and by the next (the pause is in etcd); vigil
// resume on the next leader lets its incident open and its fence go out.
func TestPauseHoldsAcrossFailover(t *testing.T) {
	b := newBed(t, bedOpts{})
	b.start("ctl1")
	b.start("ctl2")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}
	post(t, lead, "/v1/pause", `{"reason": "core switch upgrade"}`)
	if err := b.agents["cmp3"].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s := b.waitState(lead, "cmp3", 30*time.Second, decision.Failed)
	if s.Rule != "paused" || !s.Held || !strings.Contains(s.Reason, "core switch upgrade") {
		t.Fatalf("cmp3 while paused: %+v; want held by the pause, its reason shown", s)
	}
	b.stop(lead.Name)
	next := b.leader(30 * time.Second)
	time.Sleep(15 * time.Second) // past the new leader's failover grace
	if s, _ := state(next, "cmp3"); s.State != decision.Failed || s.Rule != "paused" {
		t.Fatalf("cmp3 on the new leader: %s (%s); want failed, held by the pause", s.State, s.Rule)
	}
	for _, ev := range next.Events.Last("cmp3", 0) {
		if strings.HasPrefix(ev.Action, "fence(") {
			t.Fatalf("a fence went out while paused: %+v", ev)
		}
	}
	post(t, next, "/v1/resume", `{"reason": "done"}`)
	ctlbed.Eventually(t, 30*time.Second, "cmp3's fence goes out after the resume", func() error {
		for _, ev := range next.Events.Last("cmp3", 0) {
			if strings.HasPrefix(ev.Action, "fence(") {
				return nil
			}
		}
		return errors.New("no fence yet")
	})
}

// vigil plan, the real binary, against a running controller (its API, its
// loop, its engine): what the leader would do if cmp3 failed now, its fence
// level named from the configuration; held while vigil is paused, with who
// paused it and why; an unknown host refused by name. Asking decides and
// does nothing: no event of cmp3 appears while the plans are made.
func TestPlanAgainstARunningController(t *testing.T) {
	b := newBed(t, bedOpts{embedded: true})
	b.start("ctl1")
	lead := b.leader(30 * time.Second)
	for _, h := range hosts {
		b.waitState(lead, h, 60*time.Second, decision.Healthy)
	}
	tok := filepath.Join(b.dir, "reader.token")
	write(t, tok, readerToken+"\n")
	bin := vigilbin.Path(t)
	plan := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"plan", "--url", "http://" + lead.API.String(), "--token-file", tok}, args...)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	before := len(lead.Events.Last("cmp3", 0))

	var p api.Plan
	ctlbed.Eventually(t, 30*time.Second, "the leader's plan for cmp3 would act (past its failover grace)", func() error {
		out, errOut, err := plan("cmp3", "-o", "json")
		if err != nil {
			return fmt.Errorf("vigil plan cmp3 -o json: %v: %s", err, errOut)
		}
		p = api.Plan{}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !p.WouldAct {
			return fmt.Errorf("held (%s): %s", p.Hold, p.Reason)
		}
		return nil
	})
	if p.Host != "cmp3" || p.Self != "ctl1" || p.State != decision.Healthy || len(p.Fence) != 1 || p.Fence[0].Method != "ipmi" ||
		len(p.Fence[0].Devices) != 1 || !strings.HasPrefix(p.Fence[0].Devices[0], "ipmi address=127.0.0.1") || !p.NovaUnread || len(p.Avoid) != 0 {
		t.Errorf("the plan for cmp3 (no Nova on this bed, every host healthy): %+v", p)
	}
	out, errOut, err := plan("cmp3")
	if err != nil || !strings.Contains(out, "If cmp3 failed now, vigil would act at once:") || !strings.Contains(out, "level 1: ipmi (ipmi address=127.0.0.1") ||
		!strings.Contains(out, "Wait for Nova's list of the instances on cmp3") {
		t.Errorf("vigil plan cmp3: %v\n%s%s", err, out, errOut)
	}

	post(t, lead, "/v1/pause", `{"reason": "core switch upgrade"}`)
	ctlbed.Eventually(t, 10*time.Second, "the plan says the pause holds vigil", func() error {
		out, errOut, err := plan("cmp3")
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		if w := strings.Join(strings.Fields(out), " "); !strings.Contains(w, "If cmp3 failed now, vigil would NOT act (paused): vigil is paused by alice (core switch upgrade)") ||
			!strings.Contains(w, "Once that ends, it would:") {
			return fmt.Errorf("not held by the pause:\n%s", out)
		}
		return nil
	})
	if _, errOut, err := plan("cmp9"); err == nil || !strings.Contains(errOut, `no host "cmp9"`) {
		t.Errorf("vigil plan cmp9: %v, stderr %q; want a refusal naming cmp9", err, errOut)
	}
	if after := lead.Events.Last("cmp3", 0); len(after) != before {
		t.Errorf("events of cmp3 appeared while plans were made: %+v", after[before:])
	}
	if s, _ := state(lead, "cmp3"); s.State != decision.Healthy {
		t.Errorf("cmp3 is %s (%s) after the plans; want healthy", s.State, s.Rule)
	}
}
