package decision

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// planWorld drives engines through one story: six hosts; cmp1 dies at 20 s
// and is fenced and evacuated; vigil is paused at 30 s, cmp2 dies at 40 s
// and is held by the pause; cmp3 goes into maintenance at 35 s; vigil
// resumes at 60 s, and cmp2 is fenced. cmp4's agent runs a copy of cmp1's
// c1-b (a live migration that had switched over); cmp5's nova-compute is
// down throughout. Every fence and evacuation succeeds.
type planWorld struct {
	t0    time.Time
	hosts []string
	dead  map[string]time.Duration
}

func newPlanWorld() planWorld {
	return planWorld{
		t0:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		hosts: []string{"cmp1", "cmp2", "cmp3", "cmp4", "cmp5", "cmp6"},
		dead:  map[string]time.Duration{"cmp1": 20 * time.Second, "cmp2": 40 * time.Second},
	}
}

func (w planWorld) engine(t *testing.T) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FenceLevels = 2
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range w.hosts {
		e.AddHost(HostInfo{Name: h, Domain: "rack1"})
	}
	e.Step(w.t0, Leadership{Leader: true, Token: 1})
	return e
}

// inputs are what the engine hears at virtual time at, before its Tick.
func (w planWorld) inputs(at time.Duration) []Input {
	var in []Input
	switch at {
	case 30 * time.Second:
		in = append(in, SetPause{On: true, By: "alice", Reason: "core switch upgrade"})
	case 35 * time.Second:
		in = append(in, SetMaintenance{Host: "cmp3", On: true})
	case 60 * time.Second:
		in = append(in, SetPause{On: false, By: "alice"})
	}
	counters := map[string]uint64{}
	for _, h := range w.hosts {
		d, dies := w.dead[h]
		alive := !dies || at < d
		self := SelfReport{BootID: "b-" + h, Agent: "a-" + h, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
		switch h {
		case "cmp4":
			self.Domains = []string{"c1-b"}
		case "cmp5":
			self.NovaCompute.Running = false // service-degraded: no target
		}
		if alive {
			for _, n := range []string{"mgmt", "storage"} {
				in = append(in, AgentReport{Host: h, Network: n, Self: self})
			}
			counters[h] = uint64(at / time.Second)
		} else {
			counters[h] = uint64(d / time.Second)
		}
		n := NovaService{Host: h, Up: alive, Instances: []string{h + "-a", h + "-b"}, Status: map[string]string{h + "-b": NovaShutoff}}
		if h == "cmp1" {
			n.Instances = []string{"c1-a", "c1-b", "c1-c"}
		}
		in = append(in, n)
	}
	return append(in, StorageHeartbeats{OK: true, Counters: counters})
}

// results answers a Ready's fences and evacuations, as an executor would.
func results(rd Ready) []Input {
	var in []Input
	for _, a := range rd.Actions {
		switch a.Kind {
		case ActFence:
			in = append(in, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "off"})
		case ActEvacuate:
			for _, id := range a.Instances {
				in = append(in, EvacuateResult{Host: a.Host, Instance: id, OK: true, Accepted: true, Target: "cmp6", Placed: "cmp6", Status: NovaActive})
			}
		}
	}
	return in
}

// Asking for a plan changes nothing: an engine asked for every host's plan
// at every step stays deeply equal to one never asked, and their Readies
// and statuses are the same, through an incident, a pause, a held host,
// maintenance and the resume.
func TestPlanChangesNothing(t *testing.T) {
	w := newPlanWorld()
	planned, plain := w.engine(t), w.engine(t)
	step := 500 * time.Millisecond
	var held, acted, incident bool
	for at := step; at <= 90*time.Second; at += step {
		now := w.t0.Add(at)
		for _, in := range w.inputs(at) {
			planned.Step(now, in)
			plain.Step(now, in)
		}
		for _, h := range append(slices.Clone(w.hosts), "cmp9") {
			p, err := planned.Plan(now, h)
			if h == "cmp9" {
				if err == nil {
					t.Fatalf("t=%v: Plan(cmp9) = nil error for a host the engine was not given", at)
				}
				continue
			}
			if err != nil {
				t.Fatalf("t=%v: Plan(%s): %v", at, h, err)
			}
			held = held || p.Hold == "paused"
			acted = acted || p.WouldAct
			incident = incident || p.Hold == "incident-open"
		}
		if !reflect.DeepEqual(planned, plain) {
			t.Fatalf("t=%v: the engine asked for plans differs from one never asked", at)
		}
		ra, rb := planned.Tick(now), plain.Tick(now)
		if d := cmp.Diff(rb, ra); d != "" {
			t.Fatalf("t=%v: Ready after plans differs (-never asked +asked):\n%s", at, d)
		}
		if d := cmp.Diff(plain.Status(), planned.Status()); d != "" {
			t.Fatalf("t=%v: Status after plans differs (-never asked +asked):\n%s", at, d)
		}
		for _, in := range append(results(ra), Persisted{Ready: ra.Seq}) {
			planned.Step(now, in)
			plain.Step(now, in)
		}
	}
	// The story went through what it is meant to.
	if !held || !acted || !incident {
		t.Fatalf("the story did not cover the plans it should: paused %v, would act %v, incident open %v", held, acted, incident)
	}
}

// What a plan says is what the incident then does: the levels it fences
// with, the instances it evacuates in that order (the stopped ones flagged),
// the hosts it avoids, and the instance it leaves to an operator.
func TestPlanMatchesIncident(t *testing.T) {
	w := newPlanWorld()
	e := w.engine(t)
	step := 500 * time.Millisecond
	var plan Plan
	var fences []Action
	var evac *Action
	for at := step; at <= 40*time.Second && evac == nil; at += step {
		now := w.t0.Add(at)
		for _, in := range w.inputs(at) {
			e.Step(now, in)
		}
		if at == 19*time.Second {
			var err error
			if plan, err = e.Plan(now, "cmp1"); err != nil {
				t.Fatal(err)
			}
		}
		rd := e.Tick(now)
		for _, a := range rd.Actions {
			switch {
			case a.Host != "cmp1":
			case a.Kind == ActFence:
				fences = append(fences, a)
			case a.Kind == ActEvacuate:
				evac = &a
			}
		}
		for _, in := range append(results(rd), Persisted{Ready: rd.Seq}) {
			e.Step(now, in)
		}
	}
	if !plan.WouldAct || plan.Hold != "" || plan.Reason != "" {
		t.Fatalf("plan at 19 s: would act %v, hold %q (%s); want it to act", plan.WouldAct, plan.Hold, plan.Reason)
	}
	if evac == nil || len(fences) == 0 {
		t.Fatalf("cmp1's incident sent fences %v and evacuation %v", fences, evac)
	}
	if d := cmp.Diff([]PlannedLevel{{Level: 1}, {Level: 2}}, plan.Fence); d != "" {
		t.Errorf("plan's fence levels (-want +planned):\n%s", d)
	}
	if fences[0].Level != plan.Fence[0].Level {
		t.Errorf("first fence at level %d, plan said level %d", fences[0].Level, plan.Fence[0].Level)
	}
	var want, stopped, operator []string
	for _, in := range plan.Instances {
		switch in.Action {
		case PlanEvacuate:
			want = append(want, in.ID)
			if in.Stopped {
				stopped = append(stopped, in.ID)
			}
		case PlanOperator:
			operator = append(operator, in.ID+"@"+strings.Join(in.CopyOn, ","))
		}
	}
	var avoid []string
	for _, a := range plan.Avoid {
		avoid = append(avoid, a.Host)
	}
	if d := cmp.Diff(evac.Instances, want); d != "" {
		t.Errorf("evacuated instances differ from the plan's (-sent +planned):\n%s", d)
	}
	if d := cmp.Diff(evac.Stopped, stopped); d != "" {
		t.Errorf("stopped instances differ from the plan's (-sent +planned):\n%s", d)
	}
	if len(avoid) == 0 {
		t.Error("the plan avoids no host; want cmp5 at least (its nova-compute is down)")
	}
	if d := cmp.Diff(evac.Avoid, avoid); d != "" {
		t.Errorf("avoided hosts differ from the plan's (-sent +planned):\n%s", d)
	}
	if d := cmp.Diff([]string{"c1-b@cmp4"}, operator); d != "" {
		t.Errorf("instances left to an operator (-want +planned):\n%s", d)
	}
}

// A plan for a host the engine does not know is an error naming it; a
// follower's plan says it does not lead.
func TestPlanUnknownHostAndFollower(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = e.Plan(now, "cmp7")
	if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), `"cmp7"`) {
		t.Fatalf("Plan(cmp7) = %v, want ErrUnknownHost naming cmp7", err)
	}
	p, err := e.Plan(now, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	if p.WouldAct || p.Hold != "not-leading" {
		t.Fatalf("a follower's plan: would act %v, hold %q; want not-leading", p.WouldAct, p.Hold)
	}
}
