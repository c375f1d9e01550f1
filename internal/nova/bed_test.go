package nova_test

// Integration tests against the real Nova 26 of internal/testbed/openstack:
// VIGIL_INTEGRATION=1 VIGIL_OPENSTACK=1, as root.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/nova"
	"github.com/vigil-ha/vigil/internal/testbed/openstack"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

var shared = &openstack.Shared{}

func TestMain(m *testing.M) {
	shared.Enabled = tier.Enabled() && os.Getenv("VIGIL_OPENSTACK") == "1"
	shared.RunDir = os.Getenv("VIGIL_RUN")
	shared.Keep = os.Getenv("VIGIL_OPENSTACK_KEEP") == "1"
	os.Exit(shared.Close(m.Run()))
}

var hosts = []string{"cmp1", "cmp2", "cmp3"}

// bed returns the shared bed with cmp1..cmp3 up, none forced down or
// disabled, and a vigil Nova client logged in through the bed's clouds.yaml.
func bed(t *testing.T) (*openstack.Bed, *nova.Client) {
	t.Helper()
	tier.Integration(t, tier.Root)
	b := shared.Get(t)
	ctx := context.Background()
	for _, h := range hosts {
		if err := b.StartCompute(ctx, openstack.ComputeConfig{Host: h}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"OS_CLOUD": openstack.CloudName, "OS_CLIENT_CONFIG_FILE": b.CloudsYAML()}
	cred, err := nova.CredentialsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := nova.Connect(ctx, cred, nova.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// restore brings host back as the tests expect it: nova-compute running
// (its restart destroys what was evacuated away), not forced down, enabled,
// "up". It uses the bed's helpers, not the code under test.
func restore(t *testing.T, b *openstack.Bed, host string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.StartCompute(ctx, openstack.ComputeConfig{Host: host}); err != nil {
		t.Error(err)
		return
	}
	if err := b.SetForcedDown(ctx, host, false); err != nil {
		t.Error(err)
		return
	}
	svc, err := b.Service(ctx, host)
	if err != nil {
		t.Error(err)
		return
	}
	if svc.Status != "enabled" {
		nc, err := b.Compute(ctx, "2.53")
		if err == nil {
			_, err = services.Update(ctx, nc, svc.ID, services.UpdateOpts{Status: services.ServiceEnabled}).Extract()
		}
		if err != nil {
			t.Error(err)
			return
		}
	}
	if _, err := b.WaitServiceState(ctx, host, "up"); err != nil {
		t.Error(err)
	}
}

// server boots a server on host, stopped if asked, deleted at cleanup.
func server(t *testing.T, b *openstack.Bed, c *nova.Client, name, host string, stopped bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := b.CreateServer(ctx, name, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.DeleteServer(context.Background(), id); err != nil {
			t.Error(err)
		}
	})
	if stopped {
		if err := c.Stop(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c, id, func(s nova.Server) bool { return s.Status == "SHUTOFF" && s.TaskState == "" })
	}
	return id
}

func waitFor(t *testing.T, c *nova.Client, id string, ok func(nova.Server) bool) nova.Server {
	t.Helper()
	var last nova.Server
	tier.Eventually(t, 2*time.Minute, "server "+id, func() error {
		s, err := c.Server(context.Background(), id)
		if err != nil {
			return err
		}
		last = s
		if !ok(s) {
			return fmt.Errorf("%s on %q, task %q", s.Status, s.Host, s.TaskState)
		}
		return nil
	})
	return last
}

// kill crashes host's nova-compute and restores it at cleanup.
func kill(t *testing.T, b *openstack.Bed, host string) {
	t.Helper()
	t.Cleanup(func() { restore(t, b, host) })
	if err := b.StopCompute(context.Background(), host, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

func executor(t *testing.T, c *nova.Client, fence nova.FenceCheck) *nova.Executor {
	t.Helper()
	e, err := nova.NewExecutor(c, fence, func(decision.Input) {}, nova.ExecConfig{Poll: 200 * time.Millisecond, EvacuateTimeout: 2 * time.Minute},
		slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func held(context.Context, string, string) (nova.FenceState, string) { return nova.FenceHeld, "" }

func evidenceOf(t *testing.T, p nova.Pass, host string) decision.NovaService {
	t.Helper()
	for _, s := range p.Evidence() {
		if s.Host == host {
			return s
		}
	}
	t.Fatalf("no evidence for %s in %+v", host, p.Evidence())
	return decision.NovaService{}
}

// The bed's openrc variables work as well as its clouds.yaml.
func TestConnectWithOpenRCVariables(t *testing.T) {
	bed(t)
	env := map[string]string{}
	for _, kv := range openstack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cred, err := nova.CredentialsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := nova.Connect(context.Background(), cred, nova.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A host whose nova-compute is killed: the collector sees its servers
// there, and the host down once service_down_time has passed.
func TestCollectorSeesKilledHostDown(t *testing.T) {
	b, c := bed(t)
	ctx := context.Background()
	active := server(t, b, c, "collect-active", "cmp1", false)
	stopped := server(t, b, c, "collect-stopped", "cmp1", true)
	p, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := evidenceOf(t, p, "cmp1")
	want := decision.NovaService{Host: "cmp1", Up: true, Instances: sorted(active, stopped),
		Status: map[string]string{active: "ACTIVE", stopped: "SHUTOFF"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("cmp1 before the kill (-want +got):\n%s", d)
	}
	for _, s := range p.Servers {
		if s.ID == stopped && (s.PowerState != 4 || s.VMState != "stopped") {
			t.Errorf("stopped server: power state %d, vm_state %q; want 4 (shutdown), stopped", s.PowerState, s.VMState)
		}
	}
	t.Logf("collector pass: %d services, %d servers, %d requests, %v", len(p.Services), len(p.Servers), p.Requests, p.Took)

	kill(t, b, "cmp1")
	killed := time.Now()
	tier.Eventually(t, time.Minute, "the collector to see cmp1 down", func() error {
		p, err := c.Collect(ctx)
		if err != nil {
			return err
		}
		if got := evidenceOf(t, p, "cmp1"); got.Up || len(got.Instances) != 2 {
			return fmt.Errorf("cmp1: up %v, instances %v", got.Up, got.Instances)
		}
		return nil
	})
	t.Logf("kill -9 -> collector sees cmp1 down: %.1f s", time.Since(killed).Seconds())
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

var costServers = flag.Int("nova.servers", 24, "servers TestCollectorPassCost boots")

// What a pass costs at the bed's scale: 3 hosts, -nova.servers servers
// more than the other tests leave. Ten passes, logged (docs/performance.md).
func TestCollectorPassCost(t *testing.T) {
	b, c := bed(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for i := range *costServers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id, err := b.CreateServer(ctx, fmt.Sprintf("cost-%d", i), hosts[i%len(hosts)])
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() {
				if err := b.DeleteServer(context.Background(), id); err != nil {
					t.Error(err)
				}
			})
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var took []time.Duration
	var p nova.Pass
	for range 10 {
		var err error
		if p, err = c.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		took = append(took, p.Took)
	}
	slices.Sort(took)
	n := 0
	for _, e := range p.Evidence() {
		n += len(e.Instances)
	}
	if n < *costServers {
		t.Fatalf("evidence lists %d servers, want at least %d", n, *costServers)
	}
	t.Logf("collector pass, %d services, %d servers, %d requests: min %v, median %v, max %v",
		len(p.Services), len(p.Servers), p.Requests, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// The recovery story: cmp1 dies, vigil forces it down (then disables it,
// naming itself), evacuates an ACTIVE and a SHUTOFF server, the first ends
// ACTIVE and the second SHUTOFF on another host, each with a result that
// says so; after cmp1's restart, re-enable lifts forced_down (which
// gophercloud's UpdateOpts cannot send).
func TestForceDownEvacuateReEnable(t *testing.T) {
	b, c := bed(t)
	ctx := context.Background()
	active := server(t, b, c, "evac-active", "cmp1", false)
	stopped := server(t, b, c, "evac-stopped", "cmp1", true)
	kill(t, b, "cmp1")

	e := executor(t, c, held)
	t0 := time.Now()
	e.Do(ctx, decision.Action{Kind: decision.ActForceDown, Host: "cmp1", Rule: "force-down-after-fence", Reason: "fence verified"})
	t.Logf("force-down + disable: %v", time.Since(t0).Round(time.Millisecond))
	svc, err := b.Service(ctx, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	if !svc.ForcedDown || svc.Status != "disabled" || !strings.HasPrefix(svc.DisabledReason, "vigil incident on cmp1") {
		t.Fatalf("after force-down: forced_down %v, status %s, reason %q", svc.ForcedDown, svc.Status, svc.DisabledReason)
	}

	t0 = time.Now()
	res := e.Do(ctx, decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{active, stopped}, Stopped: []string{stopped}, FenceMethod: "ipmi"})
	took := time.Since(t0)
	if len(res) != 2 {
		t.Fatalf("results: %+v", res)
	}
	for i, want := range []string{"ACTIVE", "SHUTOFF"} {
		r := res[i].(decision.EvacuateResult)
		if !r.OK || !r.Accepted || r.Target == "" || r.Target == "cmp1" || r.Placed != r.Target || r.Status != want || r.Err != "" || r.FenceLost || r.FenceUnreadable {
			t.Errorf("result %d: %+v, want OK and Accepted, %s on a Target other than cmp1 = Placed", i, r, want)
		}
		s, err := c.Server(ctx, r.Instance)
		if err != nil || s.Host != r.Target || s.Status != want {
			t.Errorf("Nova shows %s %s on %q (%v), the result said %s on %s", r.Instance, s.Status, s.Host, err, want, r.Target)
		}
	}
	t.Logf("evacuate an ACTIVE and a stopped server (API offers %s) -> both done: %v", c.Microversion(), took.Round(time.Millisecond))

	// The same action again (a new leader replaying it): nothing is moved twice.
	again := e.Do(ctx, decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{active}, FenceMethod: "ipmi"})
	if r := again[0].(decision.EvacuateResult); r.Accepted || r.OK || r.Placed == "cmp1" || r.Placed == "" {
		t.Errorf("replayed evacuation: %+v, want not accepted, Placed on the new host", r)
	}

	if err := b.StartCompute(ctx, openstack.ComputeConfig{Host: "cmp1"}); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	e.Do(ctx, decision.Action{Kind: decision.ActReEnable, Host: "cmp1", Rule: "clean-rejoin"})
	t.Logf("re-enable (forced_down false + enable, an RPC to the live host): %v", time.Since(t0).Round(time.Millisecond))
	if svc, err := b.Service(ctx, "cmp1"); err != nil || svc.ForcedDown || svc.Status != "enabled" {
		t.Fatalf("after re-enable: forced_down %v, status %s (%v); want false, enabled", svc.ForcedDown, svc.Status, err)
	}
	if _, err := b.WaitServiceState(ctx, "cmp1", "up"); err != nil {
		t.Fatal(err)
	}
}

// Nova's scheduler still picks a host killed less than service_down_time
// ago: Avoid is how the engine keeps such a host out. cmp2 dies with cmp1
// and is the emptier host (the scheduler's RAM weigher prefers it); with
// cmp2 in Avoid every server goes to cmp3.
func TestEvacuateAvoidsDistrustedHosts(t *testing.T) {
	b, c := bed(t)
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		ids = append(ids, server(t, b, c, fmt.Sprintf("avoid-%d", i), "cmp1", false))
	}
	for i := range 2 {
		server(t, b, c, fmt.Sprintf("ballast-%d", i), "cmp3", false)
	}
	control := server(t, b, c, "avoid-control", "cmp1", false)
	kill(t, b, "cmp2")
	kill(t, b, "cmp1")
	e := executor(t, c, held)
	e.Do(ctx, decision.Action{Kind: decision.ActForceDown, Host: "cmp1", Rule: "test"})

	// The control, not asserted (it depends on the scheduler's weighers
	// and on timing): without Avoid, where does the scheduler send it?
	if svc, err := b.Service(ctx, "cmp2"); err == nil {
		short, err := nova.NewExecutor(c, held, func(decision.Input) {}, nova.ExecConfig{Poll: 200 * time.Millisecond, EvacuateTimeout: 15 * time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := short.Do(ctx, decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{control}})[0].(decision.EvacuateResult)
		t.Logf("control: cmp2 killed, Nova says %q; evacuation without Avoid: OK %v, placed %q, %s (%s)", svc.State, r.OK, r.Placed, r.Status, r.Err)
	}
	res := e.Do(ctx, decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: ids, Avoid: []string{"cmp2"}, FenceMethod: "ipmi"})
	for _, in := range res {
		r := in.(decision.EvacuateResult)
		if !r.OK || r.Target != "cmp3" || r.Placed != "cmp3" {
			t.Errorf("%s: %+v, want OK on cmp3", r.Instance, r)
		}
	}
}

// The fence re-read right before the evacuate request: "lifted" and
// "unreadable" stop it there, and Nova is never asked (no evacuate in the
// server's instance actions); "held" lets it through.
func TestFenceReReadStopsEvacuation(t *testing.T) {
	b, c := bed(t)
	ctx := context.Background()
	id := server(t, b, c, "fence-hook", "cmp1", false)
	kill(t, b, "cmp1")
	var answer atomic.Int32
	var asked atomic.Int32
	fence := func(_ context.Context, host, method string) (nova.FenceState, string) {
		asked.Add(1)
		if host != "cmp1" || method != "ipmi" {
			t.Errorf("fence check for %s/%s, want cmp1/ipmi", host, method)
		}
		return nova.FenceState(answer.Load()), "chassis power reads on"
	}
	e := executor(t, c, fence)
	e.Do(ctx, decision.Action{Kind: decision.ActForceDown, Host: "cmp1", Rule: "test"})
	act := decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{id}, FenceMethod: "ipmi"}

	for _, tc := range []struct {
		state nova.FenceState
		want  decision.EvacuateResult
	}{
		{nova.FenceLifted, decision.EvacuateResult{Host: "cmp1", Instance: id, FenceLost: true, Placed: "cmp1", Status: "ACTIVE",
			Err: "fence re-read before evacuating " + id + ": chassis power reads on"}},
		{nova.FenceUnreadable, decision.EvacuateResult{Host: "cmp1", Instance: id, FenceUnreadable: true, Placed: "cmp1", Status: "ACTIVE",
			Err: "fence re-read before evacuating " + id + ": chassis power reads on"}},
	} {
		answer.Store(int32(tc.state))
		res := e.Do(ctx, act)
		if d := cmp.Diff([]decision.Input{tc.want}, res); d != "" {
			t.Errorf("fence %d (-want +got):\n%s", tc.state, d)
		}
	}
	if n := evacuateActions(t, b, id); n != 0 {
		t.Fatalf("Nova recorded %d evacuate actions for %s: it was asked", n, id)
	}
	answer.Store(int32(nova.FenceHeld))
	before := asked.Load()
	r := e.Do(ctx, act)[0].(decision.EvacuateResult)
	if !r.OK || asked.Load() != before+1 {
		t.Fatalf("fence held: %+v (fence read %d times)", r, asked.Load()-before)
	}
	if n := evacuateActions(t, b, id); n != 1 {
		t.Fatalf("Nova recorded %d evacuate actions, want 1", n)
	}
}

// Restart hard-reboots a server in place; one Nova places elsewhere is
// left alone.
func TestRestartHardReboots(t *testing.T) {
	b, c := bed(t)
	ctx := context.Background()
	here := server(t, b, c, "restart-here", "cmp2", false)
	other := server(t, b, c, "restart-other", "cmp3", false)
	executor(t, c, held).Do(ctx, decision.Action{Kind: decision.ActRestart, Host: "cmp2", Instances: []string{here, other}})
	if n := instanceActions(t, b, here, "reboot"); n != 1 {
		t.Errorf("%d reboot actions on the server on cmp2, want 1", n)
	}
	if n := instanceActions(t, b, other, "reboot"); n != 0 {
		t.Errorf("%d reboot actions on the server on cmp3, want none", n)
	}
	waitFor(t, c, here, func(s nova.Server) bool { return s.Status == "ACTIVE" && s.TaskState == "" && s.Host == "cmp2" })
}

// evacuateActions counts the evacuate requests Nova recorded for a server.
func evacuateActions(t *testing.T, b *openstack.Bed, id string) int {
	t.Helper()
	return instanceActions(t, b, id, "evacuate")
}

// instanceActions counts the requests of a kind Nova recorded for a server.
func instanceActions(t *testing.T, b *openstack.Bed, id, kind string) int {
	t.Helper()
	ctx := context.Background()
	nc, err := b.Compute(ctx, "2.53")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Actions []struct {
			Action string `json:"action"`
		} `json:"instanceActions"`
	}
	if _, err := nc.Get(ctx, nc.ServiceURL("servers", id, "os-instance-actions"), &body, &gophercloud.RequestOpts{OkCodes: []int{200}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range body.Actions {
		if a.Action == kind {
			n++
		}
	}
	return n
}

// testWriter sends the executor's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
