package decision

import (
	"slices"
	"testing"
	"time"
)

// An operator's pause: a host that dies while vigil is paused is held
// (failed, rule paused, alerted), and nothing is fenced; an incident open
// before the pause carries on to the end (its instances move). On resume
// the held host's incident opens and it is fenced.
func TestPauseHoldsNewIncidentsOnly(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"cmp1", "cmp2", "cmp3", "cmp4", "cmp5"}
	for _, h := range hosts {
		e.AddHost(HostInfo{Name: h})
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(t0, Leadership{Leader: true, Token: 1})
	dead := map[string]time.Duration{"cmp1": 20 * time.Second, "cmp2": 40 * time.Second}
	var fenced, moved []string
	var alerts []string
	self := SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
	run := func(from, to time.Duration) {
		for at := from; at < to; at += 500 * time.Millisecond {
			now := t0.Add(at)
			counters := map[string]uint64{}
			for _, h := range hosts {
				d, dies := dead[h]
				alive := !dies || at < d
				if alive {
					for _, n := range []string{"mgmt", "storage"} {
						e.Step(now, AgentReport{Host: h, Network: n, Self: self})
					}
					counters[h] = uint64(at / time.Second)
				} else {
					counters[h] = uint64(d / time.Second)
				}
				e.Step(now, NovaService{Host: h, Up: alive, Instances: []string{h + "-vm"}})
			}
			e.Step(now, StorageHeartbeats{OK: true, Counters: counters})
			rd := e.Tick(now)
			e.Step(now, Persisted{Ready: rd.Seq})
			for _, a := range rd.Actions {
				switch a.Kind {
				case ActFence:
					fenced = append(fenced, a.Host)
					e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "off"})
				case ActEvacuate:
					for _, in := range a.Instances {
						moved = append(moved, in)
						e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true, Target: "cmp5", Placed: "cmp5", Status: NovaActive})
					}
				case ActAlert:
					alerts = append(alerts, a.Host+":"+a.Code)
				}
			}
		}
	}
	state := func(h string) HostStatus {
		for _, s := range e.Status() {
			if s.Name == h {
				return s
			}
		}
		return HostStatus{}
	}
	// cmp1 dies at 20 s and is fenced at about 26 s; the pause comes at 27 s,
	// with cmp1's incident open.
	run(500*time.Millisecond, 27*time.Second)
	if !slices.Contains(fenced, "cmp1") {
		t.Fatalf("cmp1 not fenced before the pause: fenced %v", fenced)
	}
	e.Step(t0.Add(27*time.Second), SetPause{On: true, By: "alice", Reason: "core switch upgrade"})
	run(27*time.Second, 80*time.Second)
	if !slices.Contains(moved, "cmp1-vm") {
		t.Errorf("cmp1's incident, open before the pause, did not carry on: moved %v", moved)
	}
	if slices.Contains(fenced, "cmp2") {
		t.Fatalf("cmp2, dead at 40 s while paused, was fenced: %v", fenced)
	}
	s := state("cmp2")
	if s.State != Failed || s.Rule != "paused" || !s.Held || s.Reason == "" {
		t.Fatalf("cmp2 while paused: %+v; want failed, held by the pause, with its reason", s)
	}
	if !slices.Contains(alerts, "cmp2:paused") {
		t.Errorf("no paused alert for cmp2: %v", alerts)
	}
	t.Logf("cmp2 held: %s", s.Reason)
	e.Step(t0.Add(80*time.Second), SetPause{On: false})
	run(80*time.Second, 100*time.Second)
	if !slices.Contains(fenced, "cmp2") || !slices.Contains(moved, "cmp2-vm") {
		t.Fatalf("after resume: fenced %v, moved %v; want cmp2 fenced and its instance moved", fenced, moved)
	}
}
