package decision

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// rejoinRig is a leader that restored cmp1's incident (fenced by IPMI, vm1
// moved to cmp2) and then hears cmp1 boot again, clean: boot b2, no guest,
// nova-compute running. cmp2 and cmp3 are healthy throughout.
type rejoinRig struct {
	t    *testing.T
	e    *Engine
	now  time.Time
	self SelfReport // cmp1's agent
	n    uint64
	// What the ticks decided for cmp1.
	alerts      map[string]int
	rules       []string
	unfences    int
	records     []Record
	lastAlertOf map[string]string
	reEnabled   bool // the executor unset forced-down: Nova says up
	silent      bool // cmp1 says nothing, its storage heartbeat stalls
	novaHere    []string
	fences      []Action
	reEnables   []Action
}

var rigT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rigRecord() Record {
	fenced := rigT0.Add(-time.Minute)
	return Record{Host: "cmp1", Phase: Recovered, Opened: fenced, Failed: fenced, Level: 1,
		Fence: &Fence{At: fenced, Method: "ipmi", Proof: "chassis power read back off", Level: 1}, Instances: []string{"vm1"}, Done: []string{"vm1"}}
}

func newRejoinRig(t *testing.T, cfg Config, recs ...Record) *rejoinRig {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(HostInfo{Name: n})
	}
	if len(recs) == 0 {
		recs = []Record{rigRecord()}
	}
	e.Restore(recs)
	e.Step(rigT0, Leadership{Leader: true, Token: 2})
	return &rejoinRig{t: t, e: e, now: rigT0, alerts: map[string]int{}, lastAlertOf: map[string]string{},
		self: SelfReport{BootID: "b2", Agent: "cmp1-b2", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
}

// run advances the clock by d in steps of a second: every step the agents
// of the three hosts report, storage is read, Nova is read, and the
// engine ticks.
func (r *rejoinRig) run(d time.Duration) {
	for end := r.now.Add(d); r.now.Before(end); {
		r.now = r.now.Add(time.Second)
		r.n++
		for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
			s := SelfReport{BootID: "b1", Agent: h + "-b1", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
			if h == "cmp1" {
				if r.silent {
					continue
				}
				s = r.self
			}
			for _, n := range []string{"mgmt", "storage"} {
				r.e.Step(r.now, AgentReport{Host: h, Network: n, Self: s})
			}
		}
		c1 := r.n
		if r.silent {
			c1 = 0
		}
		r.e.Step(r.now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": r.n, "cmp3": r.n}})
		status := map[string]string{}
		for _, in := range r.novaHere {
			status[in] = NovaActive
		}
		r.e.Step(r.now, NovaService{Host: "cmp1", Up: r.reEnabled, ForcedDown: !r.reEnabled, Disabled: !r.reEnabled, Instances: r.novaHere, Status: status})
		r.e.Step(r.now, NovaService{Host: "cmp2", Up: true, Instances: []string{"vm1"}, Status: map[string]string{"vm1": NovaActive}})
		r.tick()
	}
}

func (r *rejoinRig) tick() {
	rd := r.e.Tick(r.now)
	for _, tr := range rd.Transitions {
		if tr.Host == "cmp1" {
			r.rules = append(r.rules, tr.Rule)
		}
	}
	for _, a := range rd.Actions {
		if a.Host != "cmp1" {
			continue
		}
		switch a.Kind {
		case ActAlert:
			r.alerts[a.Code]++
			r.lastAlertOf[a.Code] = a.Reason
		case ActUnfence:
			if a.Rule == "clean-rejoin" {
				r.unfences++
			}
		case ActReEnable:
			r.reEnabled = true
			r.reEnables = append(r.reEnables, a)
		case ActFence:
			r.fences = append(r.fences, a)
		}
	}
	for _, rec := range rd.Records {
		if rec.Host == "cmp1" {
			r.records = append(r.records, rec)
		}
	}
}

func (r *rejoinRig) status() HostStatus {
	for _, s := range r.e.Status() {
		if s.Name == "cmp1" {
			return s
		}
	}
	r.t.Fatal("no cmp1 in the status")
	return HostStatus{}
}

// The policy decides only who lets a clean host back: auto rejoins it at
// once, as vigil always did; manual keeps it fenced, alerts once, shows it
// held with the command to run, and waits as long as it takes.
func TestRejoinPolicy(t *testing.T) {
	t.Run("auto", func(t *testing.T) {
		r := newRejoinRig(t, autoRejoin())
		r.run(5 * time.Second)
		if r.unfences != 1 || r.status().State != Healthy || r.alerts["rejoin-ready"] != 0 {
			t.Fatalf("auto: unfences=%d state=%s alerts=%v, want one unfence, healthy, no rejoin-ready", r.unfences, r.status().State, r.alerts)
		}
	})
	t.Run("manual", func(t *testing.T) {
		r := newRejoinRig(t, DefaultConfig())
		r.run(10 * time.Minute)
		s := r.status()
		if r.unfences != 0 || s.State != Rejoining || s.Rule != "rejoin-ready" {
			t.Fatalf("manual, no operator: unfences=%d state=%s (%s), want no unfence, rejoining (rejoin-ready)", r.unfences, s.State, s.Rule)
		}
		if r.alerts["rejoin-ready"] != 1 {
			t.Errorf("rejoin-ready alerted %d times in 10 minutes, want once", r.alerts["rejoin-ready"])
		}
		if why := r.lastAlertOf["rejoin-ready"]; !strings.Contains(why, "clean") || !strings.Contains(why, "vigil rejoin cmp1") {
			t.Errorf("rejoin-ready says %q: it must say the host is clean and what to run", why)
		}
		if !s.Held || !strings.Contains(s.Reason, "vigil rejoin cmp1") {
			t.Errorf("status: held=%v reason=%q, want held with the command to run", s.Held, s.Reason)
		}
		r.e.Step(r.now, Rejoin{Host: "cmp1", By: "alice"})
		r.tick() // journals alice's word
		if r.unfences != 0 {
			t.Fatal("unfenced in the Ready that journals the rejoin: its record must go out first")
		}
		if last := r.records[len(r.records)-1]; last.RejoinBy != "alice" || last.RejoinBoot != "b2" {
			t.Fatalf("the record after the rejoin carries by=%q boot=%q, want alice, b2", last.RejoinBy, last.RejoinBoot)
		}
		r.run(time.Second)
		if r.unfences != 1 || r.status().State != Healthy {
			t.Fatalf("after vigil rejoin: unfences=%d state=%s, want one unfence and healthy", r.unfences, r.status().State)
		}
	})
}

// A rejoin is refused, with a reason in words, for a host that is not
// clean; a refused one is no approval for later.
func TestRejoinRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dirty func(*SelfReport)
		want  string
	}{
		{"runs a moved guest", func(s *SelfReport) { s.Domains = []string{"vm1"} }, "still runs vm1"},
		{"nova-compute stopped", func(s *SelfReport) { s.NovaCompute.Running = false }, "nova-compute is not running"},
		{"guests unknown", func(s *SelfReport) { s.GuestsUnknown = true }, "cannot list its guests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRejoinRig(t, DefaultConfig())
			clean := r.self
			tc.dirty(&r.self)
			r.run(3 * time.Second)
			r.e.Step(r.now, Rejoin{Host: "cmp1", By: "alice"})
			r.tick()
			if why := r.lastAlertOf["rejoin-refused"]; !strings.Contains(why, "rejoin of cmp1 by alice refused") || !strings.Contains(why, tc.want) {
				t.Fatalf("refusal says %q, want it to say it is refused and %q", why, tc.want)
			}
			// Cleaned up: no rejoin on the strength of the refused one.
			r.self = clean
			r.run(time.Minute)
			if s := r.status(); r.unfences != 0 || s.Rule != "rejoin-ready" {
				t.Fatalf("after a refused rejoin and a cleanup: unfences=%d rule=%s, want none and rejoin-ready", r.unfences, s.Rule)
			}
		})
	}
}

// The refusal of a rejoin for a host that is not cmp1 is alerted on that
// host, in words.
func TestRejoinRefusedForHealthyHost(t *testing.T) {
	r := newRejoinRig(t, DefaultConfig())
	r.run(3 * time.Second)
	r.e.Step(r.now, Rejoin{Host: "cmp2", By: "alice"})
	var why string
	for _, a := range r.e.Tick(r.now).Actions {
		if a.Kind == ActAlert && a.Code == "rejoin-refused" && a.Host == "cmp2" {
			why = a.Reason
		}
	}
	if !strings.Contains(why, "rejoin of cmp2 by alice refused") || !strings.Contains(why, "healthy") {
		t.Fatalf("refusal for healthy cmp2 says %q", why)
	}
}

// An operator's rejoin is for this rejoin of this boot: it is void once the
// host is unclean again, reboots, or leaves rejoining (maintenance), and
// the host then waits for a new one.
func TestRejoinVoided(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(*rejoinRig)
	}{
		{"a moved guest runs again", func(r *rejoinRig) { r.self.Domains = []string{"vm1"}; r.run(2 * time.Second); r.self.Domains = nil }},
		{"nova-compute stops", func(r *rejoinRig) {
			r.self.NovaCompute.Running = false
			r.run(2 * time.Second)
			r.self.NovaCompute.Running = true
		}},
		{"fast reboot", func(r *rejoinRig) { r.self.BootID, r.self.Agent = "b3", "cmp1-b3" }},
		{"agent silent", func(r *rejoinRig) { r.now = r.now.Add(5 * time.Second); r.tick() }},
		{"maintenance", func(r *rejoinRig) {
			r.e.Step(r.now, SetMaintenance{Host: "cmp1", On: true})
			r.run(2 * time.Second)
			r.e.Step(r.now, SetMaintenance{Host: "cmp1", On: false})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRejoinRig(t, DefaultConfig())
			r.run(3 * time.Second)
			r.e.Step(r.now, Rejoin{Host: "cmp1", By: "alice"})
			tc.spoil(r)
			r.run(2 * time.Minute)
			s := r.status()
			if r.unfences != 0 || s.State != Rejoining || s.Rule != "rejoin-ready" {
				t.Fatalf("unfences=%d state=%s (%s), want no unfence and rejoin-ready again (rules %v)", r.unfences, s.State, s.Rule, r.rules)
			}
			if r.alerts["rejoin-ready"] != 2 {
				t.Errorf("rejoin-ready alerted %d times, want twice (before the rejoin, and once clean again after it was void)", r.alerts["rejoin-ready"])
			}
			if tc.name != "maintenance" && r.alerts["rejoin-void"] != 1 {
				t.Errorf("rejoin-void alerted %d times, want once", r.alerts["rejoin-void"])
			}
			if last := r.records[len(r.records)-1]; last.RejoinBy != "" {
				t.Errorf("the last record still carries alice's rejoin: a new leader would take it")
			}
		})
	}
}

// A new leader keeps an operator's rejoin from the host's record (through
// the store's JSON), and lets the host back once it sees it clean in the
// boot the rejoin was given for; not in another boot.
func TestRejoinSurvivesFailover(t *testing.T) {
	old := newRejoinRig(t, DefaultConfig())
	old.run(3 * time.Second)
	old.e.Step(old.now, Rejoin{Host: "cmp1", By: "alice"})
	old.tick()
	rec := old.records[len(old.records)-1]
	if rec.RejoinBy != "alice" {
		t.Fatalf("the rejoin was not journaled: %+v", rec)
	}
	// The old leader dies before its next tick.
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var stored Record
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		boot      string
		wantBack  bool
		wantReady int
	}{{"b2", true, 0}, {"b3", false, 1}} {
		t.Run("boot "+tc.boot, func(t *testing.T) {
			r := newRejoinRig(t, DefaultConfig(), stored)
			r.now = old.now
			r.self.BootID, r.self.Agent = tc.boot, "cmp1-"+tc.boot
			r.run(3 * time.Second)
			if back := r.unfences == 1 && r.status().State == Healthy; back != tc.wantBack {
				t.Fatalf("new leader, cmp1 clean in boot %s: rejoined=%v, want %v (rules %v)", tc.boot, back, tc.wantBack, r.rules)
			}
			if r.alerts["rejoin-ready"] != tc.wantReady {
				t.Errorf("rejoin-ready alerted %d times, want %d", r.alerts["rejoin-ready"], tc.wantReady)
			}
		})
	}
}

// The policy is one of two words; anything else is refused, naming the
// field and the values it takes.
func TestRejoinPolicyValidated(t *testing.T) {
	for _, p := range []RejoinPolicy{"", "sometimes", "Manual"} {
		c := DefaultConfig()
		c.Rejoin = p
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "recovery.rejoin" || !strings.Contains(fe.Msg, `"manual"`) || !strings.Contains(fe.Msg, `"auto"`) {
			t.Errorf("rejoin %q: %v, want a FieldError on recovery.rejoin naming manual and auto", p, err)
		}
	}
	if DefaultConfig().Rejoin != RejoinManual {
		t.Errorf("the default rejoin policy is %q, want manual", DefaultConfig().Rejoin)
	}
}

// A host that waited rejoin-ready with a guest of its own (fence undone
// before it moved) falls silent and is fenced again (rejoin-silent); that
// round fails and the host answers: the incident closes with nothing
// moved, and the nova-compute it forced down must be re-enabled, or the
// host runs forced down for good (vigil lab fuzz --seed 1796593582,
// schedule 4).
func TestAbortedRoundReEnablesWhatItForcedDown(t *testing.T) {
	fenced := rigT0.Add(-time.Minute)
	rec := Record{Host: "cmp1", Phase: Rejoining, Opened: fenced, Failed: fenced, Level: 1,
		Fence: &Fence{At: fenced, Method: "ipmi", Proof: "chassis power read back off", Level: 1}, Instances: []string{"vm1"}}
	r := newRejoinRig(t, DefaultConfig(), rec)
	r.novaHere, r.self.Domains = []string{"vm1"}, []string{"vm1"}
	r.run(12 * time.Second)
	if s := r.status(); s.Rule != "rejoin-ready" {
		t.Fatalf("cmp1 is %s (%s), want rejoining (rejoin-ready)", s.State, s.Rule)
	}
	r.silent = true
	r.run(10 * time.Second)
	if len(r.fences) == 0 {
		t.Fatalf("cmp1 silent for 10s with vm1 held: no new fence round (rules %v)", r.rules)
	}
	r.e.Step(r.now, FenceResult{Host: "cmp1", Level: 1, Method: "ipmi", Err: "BMC unreachable"})
	r.silent = false
	r.run(30 * time.Second)
	if s := r.status(); s.Fence != nil || r.unfences != 0 {
		t.Fatalf("cmp1 is %s (%s) with fence %v: want the incident closed, not rejoined (rules %v)", s.State, s.Rule, s.Fence, r.rules)
	}
	if len(r.reEnables) != 1 || r.reEnables[0].Rule != "fence-aborted" {
		t.Fatalf("re-enables %+v: want one, when the aborted round closed the incident", r.reEnables)
	}
}
