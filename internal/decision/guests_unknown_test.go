package decision

import (
	"slices"
	"testing"
	"time"
)

// A host back from a fence whose agent cannot list its guests (libvirt does
// not answer) is not let back: an empty guest list from such an agent is no
// proof that the guests vigil moved away are gone. Once the agent can list
// them, and none runs, the host rejoins.
func TestRejoinWaitsForAKnownGuestList(t *testing.T) {
	e, err := New(autoRejoin())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(HostInfo{Name: h})
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(t0, Leadership{Leader: true, Token: 1})
	var codes []string
	state := func() State {
		for _, st := range e.Status() {
			if st.Name == "cmp1" {
				return st.State
			}
		}
		return ""
	}
	run := func(from, to time.Duration, cmp1 *SelfReport, cmp1Nova []string) {
		for at := from; at < to; at += 500 * time.Millisecond {
			now := t0.Add(at)
			for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
				self := SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
				inst := []string{hn + "-vm"}
				if hn == "cmp1" {
					if cmp1 == nil {
						continue
					}
					self, inst = *cmp1, cmp1Nova
				}
				for _, net := range []string{"mgmt", "storage"} {
					e.Step(now, AgentReport{Host: hn, Network: net, Self: self})
				}
				e.Step(now, NovaService{Host: hn, Up: hn != "cmp1" || cmp1 != nil, Instances: inst})
			}
			e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": uint64(at) * map[bool]uint64{true: 1, false: 0}[cmp1 != nil], "cmp2": uint64(at), "cmp3": uint64(at)}})
			for _, a := range e.Tick(now).Actions {
				switch a.Kind {
				case ActFence:
					e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "off"})
				case ActEvacuate:
					for _, in := range a.Instances {
						e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true, Target: "cmp2", Placed: "cmp2", Status: NovaActive})
					}
				case ActAlert:
					codes = append(codes, a.Code)
				}
			}
		}
	}
	alive := &SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Domains: []string{"cmp1-vm"}}
	run(0, 10*time.Second, alive, []string{"cmp1-vm"})
	run(10*time.Second, 60*time.Second, nil, []string{"cmp1-vm"}) // dies, fenced, evacuated
	if s := state(); s != Recovered {
		t.Fatalf("setup: cmp1 is %s, want recovered", s)
	}
	back := &SelfReport{BootID: "b2", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, GuestsUnknown: true}
	run(60*time.Second, 90*time.Second, back, nil)
	if s := state(); s == Healthy || !slices.Contains(codes, "rejoin-blocked") {
		t.Fatalf("cmp1 back with its guests unknown is %s (alerts %v): want held, rejoin-blocked", s, codes)
	}
	back.GuestsUnknown = false
	run(90*time.Second, 100*time.Second, back, nil)
	if s := state(); s != Healthy {
		t.Fatalf("cmp1 back, listing no guest, is %s: want it rejoined", s)
	}
}
