package decision

import (
	"testing"
	"time"
)

// autoRejoin is DefaultConfig with the automatic rejoin policy, for tests
// of what happens around a rejoin rather than of who lets a host back.
func autoRejoin() Config {
	c := DefaultConfig()
	c.Rejoin = RejoinAuto
	return c
}

// A stored record that claims recovery but carries no fence proof (a bug,
// a hand-edited store) must not let a new leader evacuate: it fences again.
func TestRestoreWithoutProofFencesAgain(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.AddHost(HostInfo{Name: "cmp1"})
	e.Restore([]Record{{Host: "cmp1", Phase: Recovering, Opened: t0, Instances: []string{"vm1"}}})
	e.Step(t0, Leadership{Leader: true})
	e.Step(t0, NovaService{Host: "cmp1", Instances: []string{"vm1"}})
	var fenced bool
	for s := 0; s <= 30; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": 1}})
		for _, a := range e.Tick(now).Actions {
			switch a.Kind {
			case ActEvacuate:
				if !fenced {
					t.Fatalf("t=%ds: evacuate %v from a record without a fence proof", s, a.Instances)
				}
			case ActFence:
				e.Step(now, FenceResult{Host: "cmp1", Level: a.Level, OK: true, Method: "ipmi", Proof: "power read back off"})
				fenced = true
			}
		}
	}
	if !fenced {
		t.Fatal("the restored incident was never fenced again")
	}
}

// A blocklisted host keeps running by design: when its agent answers again
// mid-recovery, its guests still cannot write, so the evacuation goes on. A
// power-fenced host answering again means the fence was lifted: stop.
func TestAgentAnsweringAfterFence(t *testing.T) {
	for _, tc := range []struct {
		method   string
		wantStop bool
	}{
		{"ceph-blocklist", false},
		{"ipmi", true},
		{"ipmi+ceph-blocklist", true},
	} {
		t.Run(tc.method, func(t *testing.T) {
			cfg := DefaultConfig()
			e, _ := New(cfg)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			e.AddHost(HostInfo{Name: "cmp1"})
			fence := &Fence{At: t0, Method: tc.method, Proof: "verified", Level: 1}
			e.Restore([]Record{{Host: "cmp1", Phase: Recovering, Opened: t0, Fence: fence, Instances: []string{"vm1", "vm2"}, Done: []string{"vm1"}}})
			e.Step(t0, Leadership{Leader: true})
			now := t0.Add(11 * time.Second)
			e.Step(now, NovaService{Host: "cmp1", Instances: []string{"vm2"}})
			for _, n := range cfg.Networks {
				e.Step(now, AgentReport{Host: "cmp1", Network: n, Self: SelfReport{BootID: "b1", Domains: []string{"vm1", "vm2"}}})
			}
			r := e.Tick(now)
			stopped := false
			for _, tr := range r.Transitions {
				if tr.Rule == "fence-undone" {
					stopped = true
				}
			}
			if stopped != tc.wantStop {
				t.Errorf("fence by %s, agent answers again: stopped=%v, want %v (%+v)", tc.method, stopped, tc.wantStop, r.Transitions)
			}
		})
	}
}

// Records written before Record.Failed existed carry only Opened: a new
// leader takes that as the failure time. Two hosts recovered an hour ago are
// no fresh failures, so a lone new death is fenced; two hosts fenced 30 s
// before the failover still count, so a third death within the window is
// braked.
func TestRestoreOldRecordsFailureTime(t *testing.T) {
	for _, tc := range []struct {
		ago       time.Duration
		wantBrake bool
	}{{time.Hour, false}, {30 * time.Second, true}} {
		t.Run(tc.ago.String(), func(t *testing.T) {
			if got := restoredThenOneDeath(t, tc.ago); got != tc.wantBrake {
				t.Errorf("incidents opened %v before the failover: braked=%v, want %v", tc.ago, got, tc.wantBrake)
			}
		})
	}
}

// restoredThenOneDeath restores two incidents opened ago before t0, lets
// cmp3 die, and reports whether the brake held it (false: it was fenced).
func restoredThenOneDeath(t *testing.T, ago time.Duration) bool {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	names := []string{"cmp1", "cmp2", "cmp3", "cmp4", "cmp5", "cmp6", "cmp7"}
	for _, n := range names {
		e.AddHost(HostInfo{Name: n})
	}
	opened := t0.Add(-ago)
	fence := &Fence{At: opened, Method: "ipmi", Proof: "off", Level: 1}
	e.Restore([]Record{
		{Host: "cmp1", Phase: Recovered, Opened: opened, Level: 1, Fence: fence, Instances: []string{}},
		{Host: "cmp2", Phase: Recovered, Opened: opened, Level: 1, Fence: fence, Instances: []string{}},
	})
	e.Step(t0, Leadership{Leader: true})
	for s := 1; s <= 40; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		counters := map[string]uint64{}
		for _, n := range names[2:] {
			if n == "cmp3" && s > 15 {
				continue // cmp3 dies at t0+15s
			}
			for _, net := range []string{"mgmt", "storage"} {
				e.Step(now, AgentReport{Host: n, Network: net, Self: SelfReport{BootID: "b1", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
			counters[n] = uint64(s)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: counters})
		for _, a := range e.Tick(now).Actions {
			switch {
			case a.Kind == ActFence && a.Host == "cmp3":
				return false
			case a.Kind == ActAlert && a.Code == "brake" && a.Host == "cmp3":
				return true
			}
		}
	}
	t.Fatal("cmp3 was neither fenced nor braked")
	return false
}

// An unfence that failed (the controllers could not reach the Ceph monitors)
// is retried; a new leader must retry it too, or the host runs and never
// writes its disks again. Found by the fuzzer: a leader killed between two
// retries left the host blocklisted for good.
func TestFailedUnfenceSurvivesFailover(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.AddHost(HostInfo{Name: "cmp1"})
	e.Step(t0, Leadership{Leader: true})
	e.Step(t0, UnfenceResult{Host: "cmp1", Err: "ceph monitors unreachable"})
	var rec *Record
	for _, r := range e.Tick(t0).Records {
		if r.Host == "cmp1" {
			rec = &r
		}
	}
	if rec == nil || rec.UnfenceDue.IsZero() {
		t.Fatalf("a failed unfence was not persisted: %+v", rec)
	}
	next, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	next.AddHost(HostInfo{Name: "cmp1"})
	next.Restore([]Record{*rec})
	next.Step(t0, Leadership{Leader: true})
	for s := 0; s <= 60; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		for _, a := range next.Tick(now).Actions {
			if a.Kind == ActUnfence && a.Host == "cmp1" {
				return
			}
		}
	}
	t.Fatal("the new leader never retried the failed unfence")
}
