package nova

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gophercloud/gophercloud/v2"

	"github.com/vigil-ha/vigil/internal/decision"
)

func held(context.Context, string, string) (FenceState, string) { return FenceHeld, "" }

func newExec(t *testing.T, c *Client, fence FenceCheck) *Executor {
	t.Helper()
	e, err := NewExecutor(c, fence, func(decision.Input) {}, ExecConfig{Poll: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func bodies(rs []fakeRequest) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Body)
	}
	return out
}

// Force-down goes before disable (disable first can hang on an RPC to a
// dead host), and the reason names vigil and the incident.
func TestForceDownThenDisable(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActForceDown, Host: "cmp1", Rule: "force-down-after-fence", Reason: "fence verified"})
	want := []string{`{"forced_down":true}`, `{"disabled_reason":"vigil incident on cmp1 (force-down-after-fence): fence verified","status":"disabled"}`}
	if d := cmp.Diff(want, trim(bodies(f.sent("PUT /os-services/svc-0")))); d != "" {
		t.Fatalf("service updates (-want +got):\n%s", d)
	}
	for _, r := range f.sent("PUT /os-services/svc-0") {
		if r.Microversion != baseMicroversion {
			t.Errorf("service update at microversion %q, want %s", r.Microversion, baseMicroversion)
		}
	}
}

// Re-enable sends forced_down false itself: gophercloud's UpdateOpts
// drops it, and Nova answers an empty update with 400.
func TestReEnableSendsForcedDownFalse(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1")
	f.services[0].ForcedDown, f.services[0].Status = true, "disabled"
	newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActReEnable, Host: "cmp1"})
	want := []string{`{"forced_down":false}`, `{"status":"enabled"}`}
	if d := cmp.Diff(want, trim(bodies(f.sent("PUT /os-services/svc-0")))); d != "" {
		t.Fatalf("service updates (-want +got):\n%s", d)
	}
	if s := f.services[0]; s.ForcedDown || s.Status != "enabled" {
		t.Fatalf("service after re-enable: %+v", s)
	}
}

func trim(ss []string) []string {
	for i, s := range ss {
		ss[i] = string(bytesTrim(s))
	}
	return ss
}

func bytesTrim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}

// The evacuate body is {} or {"host": …}: never onSharedStorage (trap 1);
// Nova's empty 200 is success (trap 2); a stopped server ends stopped,
// stopped again below 2.95 and kept stopped by Nova at 2.95.
func TestEvacuateBodyAndStoppedServers(t *testing.T) {
	for _, tc := range []struct {
		max, mv  string
		avoid    []string
		wantBody string
		restops  int
	}{
		{max: "2.93", mv: "2.53", wantBody: `{"evacuate":{}}`, restops: 1},
		{max: "2.93", mv: "2.53", avoid: []string{"cmp2"}, wantBody: `{"evacuate":{"host":"cmp3"}}`, restops: 1},
		{max: "2.96", mv: "2.95", wantBody: `{"evacuate":{}}`, restops: 0},
	} {
		t.Run(tc.max+fmt.Sprint(tc.avoid), func(t *testing.T) {
			f, c := newFakeNova(t, tc.max, "cmp1", "cmp2", "cmp3")
			f.addServer("a", "cmp1", "ACTIVE")
			f.addServer("b", "cmp1", "SHUTOFF")
			f.setService("cmp1", "down", true)
			res := newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1",
				Instances: []string{"a", "b"}, Stopped: []string{"b"}, Avoid: tc.avoid})
			to := "cmp2"
			if tc.avoid != nil {
				to = "cmp3"
			}
			want := []decision.Input{
				decision.EvacuateResult{Host: "cmp1", Instance: "a", OK: true, Accepted: true, Target: to, Placed: to, Status: "ACTIVE"},
				decision.EvacuateResult{Host: "cmp1", Instance: "b", OK: true, Accepted: true, Target: to, Placed: to, Status: "SHUTOFF"},
			}
			if d := cmp.Diff(want, res); d != "" {
				t.Errorf("results (-want +got):\n%s", d)
			}
			evs := append(f.sent("POST /servers/a/action"), f.sent("POST /servers/b/action")...)
			if got := trim(bodies(evs))[0]; got != tc.wantBody {
				t.Errorf("evacuate body %s, want %s", got, tc.wantBody)
			}
			if evs[0].Microversion != tc.mv {
				t.Errorf("evacuate at %q, want %s", evs[0].Microversion, tc.mv)
			}
			if n := len(f.sent("POST /servers/b/action")) - 1; n != tc.restops {
				t.Errorf("%d os-stop requests for the stopped server, want %d", n, tc.restops)
			}
		})
	}
}

// The fence re-read comes right before each evacuate request: lifted and
// unreadable stop it there, and Nova is never asked.
func TestFenceReReadStopsEvacuation(t *testing.T) {
	for _, tc := range []struct {
		state FenceState
		want  decision.EvacuateResult
	}{
		{FenceLifted, decision.EvacuateResult{Host: "cmp1", Instance: "a", FenceLost: true, Placed: "cmp1", Status: "ACTIVE", Err: "fence re-read before evacuating a: power on"}},
		{FenceUnreadable, decision.EvacuateResult{Host: "cmp1", Instance: "a", FenceUnreadable: true, Placed: "cmp1", Status: "ACTIVE", Err: "fence re-read before evacuating a: power on"}},
	} {
		f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
		f.addServer("a", "cmp1", "ACTIVE")
		f.setService("cmp1", "down", true)
		fence := func(context.Context, string, string) (FenceState, string) { return tc.state, "power on" }
		res := newExec(t, c, fence).Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"a"}})
		if d := cmp.Diff([]decision.Input{tc.want}, res); d != "" {
			t.Errorf("fence %d (-want +got):\n%s", tc.state, d)
		}
		if n := len(f.sent("POST /servers/a/action")); n != 0 {
			t.Errorf("fence %d: %d evacuate requests, want none", tc.state, n)
		}
	}
}

// A server Nova no longer places on the failed host (an evacuation went
// through under an earlier leader) or with a task in flight is not asked
// for again.
func TestNoSecondEvacuation(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	f.addServer("moved", "cmp2", "ACTIVE")
	f.addServer("busy", "cmp1", "REBUILD")
	f.servers[1].Task = "rebuild_spawning"
	f.setService("cmp1", "down", true)
	res := newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"moved", "busy"}})
	want := []decision.Input{
		decision.EvacuateResult{Host: "cmp1", Instance: "moved", Placed: "cmp2", Status: "ACTIVE", Err: `nova: moved is placed on "cmp2" already, not on cmp1: nothing sent (an earlier evacuation went through)`},
		decision.EvacuateResult{Host: "cmp1", Instance: "busy", Placed: "cmp1", Status: "REBUILD", Err: `nova: busy has task "rebuild_spawning" in flight (REBUILD): not evacuated now`},
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if n := len(f.sent("/action")); n != 0 {
		t.Errorf("%d actions sent, want none", n)
	}
}

// An evacuate whose answer is lost (a 504 after Nova took it) is not sent
// again: the server's task shows Nova has it.
func TestLostEvacuateAnswerIsNotResent(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	f.addServer("a", "cmp1", "ACTIVE")
	f.setService("cmp1", "down", true)
	f.acceptThenFail = true
	res := newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"a"}})
	if r := res[0].(decision.EvacuateResult); !r.OK || !r.Accepted || r.Placed != "cmp2" {
		t.Errorf("result %+v, want OK on cmp2", r)
	}
	if n := len(f.sent("POST /servers/a/action")); n != 1 {
		t.Errorf("%d evacuate requests, want 1", n)
	}
}

// Nova accepts the evacuation but its scheduler finds no host: the
// server stays, with no task, on the failed host; after Settle that is
// reported as not moved (Accepted, not OK, Placed on the failed host).
func TestAcceptedButNotMoved(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	f.addServer("a", "cmp1", "ACTIVE")
	f.setService("cmp1", "down", true)
	f.setService("cmp2", "down", false)
	e, err := NewExecutor(c, held, func(decision.Input) {}, ExecConfig{Poll: time.Millisecond, Settle: 5 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := e.Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"a"}})
	want := []decision.Input{decision.EvacuateResult{Host: "cmp1", Instance: "a", Accepted: true, Placed: "cmp1", Status: "ACTIVE",
		Err: "nova: accepted the evacuation of a but left it on cmp1 (ACTIVE): no valid host?"}}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// Avoid leaves no host: nothing is asked of Nova, each instance fails.
func TestAvoidLeavesNoTarget(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	f.addServer("a", "cmp1", "ACTIVE")
	f.setService("cmp1", "down", true)
	res := newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"a"}, Avoid: []string{"cmp2"}})
	if r := res[0].(decision.EvacuateResult); r.Accepted || r.Err == "" {
		t.Errorf("result %+v, want an error, not accepted", r)
	}
	if n := len(f.sent("/action")); n != 0 {
		t.Errorf("%d actions sent, want none", n)
	}
}

// Transient failures are retried a bounded number of times.
func TestTransientErrorsRetriedBounded(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1")
	f.fail["GET /os-services"] = 2 // Retries is 2
	if _, err := c.Collect(context.Background()); err != nil {
		t.Fatalf("two 503s then an answer: %v", err)
	}
	f.fail["GET /os-services"] = 3
	_, err := c.Collect(context.Background())
	if !gophercloud.ResponseCodeIs(err, 503) {
		t.Fatalf("three 503s: %v, want the 503", err)
	}
}

// One pass: one services request and one request per page of servers;
// the evidence is one NovaService per compute host.
func TestCollectPagesAndEvidence(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	c.cfg.PageSize = 2
	f.addServer("a", "cmp1", "ACTIVE")
	f.addServer("b", "cmp2", "SHUTOFF")
	f.addServer("c", "cmp1", "ERROR")
	f.addServer("d", "", "ERROR") // never scheduled
	f.addServer("e", "gone", "ACTIVE")
	f.setService("cmp2", "down", false)
	p, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Requests != 4 || len(p.Servers) != 5 {
		t.Errorf("%d requests for %d servers, want 4 (services + 3 pages of 2) for 5", p.Requests, len(p.Servers))
	}
	want := []decision.NovaService{
		{Host: "cmp1", Up: true, Instances: []string{"a", "c"}, Status: map[string]string{"a": "ACTIVE", "c": "ERROR"}},
		{Host: "cmp2", Instances: []string{"b"}, Status: map[string]string{"b": "SHUTOFF"}},
	}
	if d := cmp.Diff(want, p.Evidence()); d != "" {
		t.Errorf("evidence (-want +got):\n%s", d)
	}
}

func TestCredentialsFromEnv(t *testing.T) {
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	if err := os.WriteFile(clouds, []byte(`clouds:
  prod:
    auth:
      auth_url: http://keystone:5000/v3
      username: vigil
      password: secret
      project_name: service
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Credentials
	}{
		{"clouds.yaml", map[string]string{"OS_CLOUD": "prod", "OS_CLIENT_CONFIG_FILE": clouds}, Credentials{
			Auth: gophercloud.AuthOptions{IdentityEndpoint: "http://keystone:5000/v3", Username: "vigil", Password: "secret", DomainName: "Default",
				TenantName: "service", AllowReauth: true, Scope: &gophercloud.AuthScope{ProjectName: "service", DomainName: "Default"}},
			Endpoint: gophercloud.EndpointOpts{Region: "RegionTwo", Availability: gophercloud.AvailabilityInternal}}},
		{"openrc", map[string]string{"OS_AUTH_URL": "http://keystone:5000/v3", "OS_USERNAME": "admin", "OS_PASSWORD": "pw",
			"OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne"}, Credentials{
			Auth: gophercloud.AuthOptions{IdentityEndpoint: "http://keystone:5000/v3", Username: "admin", Password: "pw", DomainName: "Default",
				AllowReauth: true, Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}},
			Endpoint: gophercloud.EndpointOpts{Region: "RegionOne", Availability: gophercloud.AvailabilityPublic}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CredentialsFromEnv(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			got.TLS = nil
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if _, err := CredentialsFromEnv(func(string) string { return "" }); err != ErrCredentials {
		t.Errorf("no variables: %v, want ErrCredentials", err)
	}
}

// BenchmarkCollect measures vigil's side of a pass (requests, decoding,
// evidence) over 10,000 servers on 500 hosts served by the fake.
func BenchmarkCollect(b *testing.B) {
	hosts := make([]string, 500)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("cmp%d", i)
	}
	f, c := newFakeNova(b, "2.93", hosts...)
	for i := range 10000 {
		f.addServer(fmt.Sprintf("srv-%05d", i), hosts[i%len(hosts)], "ACTIVE")
	}
	b.ResetTimer()
	for b.Loop() {
		p, err := c.Collect(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Evidence()) != 500 {
			b.Fatal("evidence")
		}
	}
}

// Restart hard-reboots in place only what Nova still places on the host
// with no task in flight.
func TestRestartInPlace(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	f.addServer("here", "cmp1", "ERROR")
	f.addServer("moved", "cmp2", "ACTIVE")
	newExec(t, c, held).Do(context.Background(), decision.Action{Kind: decision.ActRestart, Host: "cmp1", Instances: []string{"here", "moved"}})
	if got := trim(bodies(f.sent("POST /servers/here/action"))); len(got) != 1 || got[0] != `{"reboot":{"type":"HARD"}}` {
		t.Errorf("here: %v, want one hard reboot", got)
	}
	if n := len(f.sent("POST /servers/moved/action")); n != 0 {
		t.Errorf("moved: %d actions, want none", n)
	}
}

// Execute returns at once; a host's actions run in the order given (the
// force-down before the evacuation it lets through) and the results reach
// the report func.
func TestExecuteKeepsEachHostsOrder(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2")
	f.addServer("a", "cmp1", "ACTIVE")
	f.setService("cmp1", "up", false) // Nova refuses the evacuation until forced down
	got := make(chan decision.Input, 1)
	e, err := NewExecutor(c, held, func(in decision.Input) { got <- in }, ExecConfig{Poll: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.Execute(ctx, decision.Action{Kind: decision.ActForceDown, Host: "cmp1"})
	e.Execute(ctx, decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"a"}})
	e.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1"}) // not a Nova action: ignored
	e.Wait()
	if r := (<-got).(decision.EvacuateResult); !r.OK || r.Placed != "cmp2" {
		t.Fatalf("result %+v, want OK on cmp2", r)
	}
}

// Named targets are handed out in turn: a retry of one instance goes to
// the next host, not the same (perhaps full) one.
func TestNamedTargetsTakeTurns(t *testing.T) {
	f, c := newFakeNova(t, "2.93", "cmp1", "cmp2", "cmp3", "cmp4")
	f.addServer("a", "cmp1", "ACTIVE")
	f.addServer("b", "cmp1", "ACTIVE")
	f.setService("cmp1", "down", true)
	e := newExec(t, c, held)
	var got []string
	for _, id := range []string{"a", "b"} {
		r := e.Do(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{id}, Avoid: []string{"cmp4"}})[0].(decision.EvacuateResult)
		got = append(got, r.Target)
	}
	if d := cmp.Diff([]string{"cmp2", "cmp3"}, got); d != "" {
		t.Errorf("targets (-want +got):\n%s", d)
	}
}
