package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/api/apitest"
	"github.com/vigil-ha/vigil/internal/decision"
)

// planBackend asks the real engine for cmp3's plan: cmp3 runs vm1, vm2
// (stopped by its user) and vm3, which cmp2's agent runs (a live migration
// that had switched over); cmp4 has just gone silent. The fence levels are
// named as the controller names them from its configuration. paused: alice
// paused vigil first.
func planBackend(t *testing.T, paused bool) *apitest.Backend {
	t.Helper()
	cfg := decision.DefaultConfig()
	cfg.FenceLevels = 2
	e, err := decision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"cmp1", "cmp2", "cmp3", "cmp4"}
	for _, h := range hosts {
		e.AddHost(decision.HostInfo{Name: h})
	}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	e.Step(t0, decision.Leadership{Leader: true, Token: 1})
	if paused {
		e.Step(t0, decision.SetPause{On: true, By: "alice", Reason: "core switch upgrade"})
	}
	var now time.Time
	for s := 1; s <= 20; s++ {
		now = t0.Add(time.Duration(s) * time.Second)
		e.Step(now, decision.NovaService{Host: "cmp3", Up: true, Instances: []string{"vm1", "vm2", "vm3"}, Status: map[string]string{"vm2": decision.NovaShutoff}})
		for _, h := range hosts {
			if h == "cmp4" && s > 17 {
				continue
			}
			self := decision.SelfReport{BootID: "b-" + h, Agent: "a-" + h, NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}
			if h == "cmp2" {
				self.Domains = []string{"vm3"}
			}
			for _, n := range []string{"mgmt", "storage"} {
				e.Step(now, decision.AgentReport{Host: h, Network: n, Self: self})
			}
		}
		e.Tick(now)
	}
	p, err := e.Plan(now.Add(2*time.Second), "cmp3")
	if err != nil {
		t.Fatal(err)
	}
	p.Fence[0].Method, p.Fence[0].Devices = "ipmi", []string{"ipmi address=10.0.0.13 port=623 username=vigil"}
	p.Fence[1].Method = "ceph-blocklist+ipmi"
	b := apitest.New("ctl1", decision.HostStatus{Name: "cmp3", State: p.State, Rule: p.Rule})
	b.SetPlan(p)
	return b
}

func TestPlanReadsLikeARunbook(t *testing.T) {
	o := newOpsBed(t, planBackend(t, false))
	code, out, errOut := o.as(t, o.reader, "plan", "cmp3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	t.Logf("vigil plan cmp3:\n%s", out)
	want := `If cmp3 failed now, vigil would act at once:
  1. Fence cmp3, trying its 2 fence levels in order until one is verified:
       level 1: ipmi (ipmi address=10.0.0.13 port=623 username=vigil)
       level 2: ceph-blocklist+ipmi
  2. Force nova-compute on cmp3 down in Nova, so that Nova accepts the
     evacuations at once.
  3. Evacuate 2 instances, in this order, avoiding cmp4 (suspect):
       1. vm1
       2. vm2 (stopped: it stays stopped on its target)
  4. Leave 1 instance to you:
       vm3: cmp2 runs it or writes its disk: vigil does not start a second copy;
         Nova's record of where it runs is stale: check it (openstack server
         show vm3)

Now: cmp3 is healthy (all-paths-answer).
Seen: agent answers on mgmt, storage; nova: up (weakest signal).
Note: an operator who knows cmp3 is off can confirm it instead of any fence:
  vigil confirm cmp3.
`
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("line over 80 columns: %q", l)
		}
	}
}

// A paused vigil's plan says it would not act, who paused it and why, and
// what it would do once resumed.
func TestPlanSaysWhatHoldsIt(t *testing.T) {
	o := newOpsBed(t, planBackend(t, true))
	code, out, errOut := o.as(t, o.reader, "plan", "cmp3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{
		"If cmp3 failed now, vigil would NOT act (paused): vigil is paused by alice (core\n  switch upgrade) since 10:00:00: no host is fenced until vigil resume;",
		"\nOnce that ends, it would:\n  1. Fence cmp3,",
		"  3. Evacuate 2 instances, in this order, avoiding cmp4 (suspect):",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("vigil plan cmp3 (paused) lacks %q:\n%s", s, out)
		}
	}
	code, out, _ = o.as(t, o.reader, "plan", "cmp3", "-o", "json")
	var p api.Plan
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || p.WouldAct || p.Hold != "paused" || len(p.Instances) != 3 || p.Self != "ctl1" {
		t.Errorf("plan -o json: exit %d, %v: %+v\n%s", code, err, p, out)
	}
	if code, _, errOut := o.as(t, o.reader, "plan", "cmp9"); code != 1 || !strings.Contains(errOut, `answered 404: no host "cmp9"`) {
		t.Errorf("plan of an unknown host: exit %d %q", code, errOut)
	}
	if code, _, errOut := o.as(t, o.reader, "plan"); code != 2 || !strings.Contains(errOut, "usage: vigil plan HOST") {
		t.Errorf("plan without a host: exit %d %q", code, errOut)
	}
	if len(o.b.Submitted()) != 0 {
		t.Errorf("a plan submitted %v", o.b.Submitted())
	}
}

// A plan's text for an open incident, a host whose Nova list is not read
// yet, and one Nova places nothing on.
func TestPlanOtherCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    decision.Plan
		want []string
	}{
		{"incident open", decision.Plan{Host: "cmp3", State: decision.Recovering, Rule: "evacuate-after-fence", Hold: "incident-open",
			Reason:    "cmp3 already has an open incident (recovering since 10:00:25): vigil is acting on it now; vigil explain cmp3 shows how far it got",
			Instances: []decision.PlannedInstance{{ID: "vm1", Action: decision.PlanMoved, Reason: "moved off the host already"}, {ID: "vm2", Action: decision.PlanMoving, Reason: "its evacuation is under way"}}},
			[]string{"vigil is acting on cmp3 already: cmp3 already has an open incident", "  1. vm1: moved: moved off the host already\n  2. vm2: moving: its evacuation is under way\n"}},
		{"nova unread", decision.Plan{Host: "cmp3", State: decision.Healthy, Rule: "all-paths-answer", WouldAct: true, NovaUnread: true, Fence: []decision.PlannedLevel{{Level: 1}}},
			[]string{"  1. Fence cmp3, and verify the fence:\n       level 1: (devices not named)\n", "3. Wait for Nova's list of the instances on cmp3 (Nova has not been read yet)"}},
		{"no instance", decision.Plan{Host: "cmp3", State: decision.Healthy, Rule: "all-paths-answer", WouldAct: true},
			[]string{"  1. Fence cmp3 (the controller did not say how).", "  3. Evacuate nothing: Nova places no instance on cmp3."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := apitest.New("ctl1", decision.HostStatus{Name: "cmp3"})
			b.SetPlan(tc.p)
			o := newOpsBed(t, b)
			code, out, errOut := o.as(t, o.reader, "plan", "cmp3")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, s := range tc.want {
				if !strings.Contains(out, s) {
					t.Errorf("lacks %q:\n%s", s, out)
				}
			}
		})
	}
}
