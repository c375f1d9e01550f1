package decision

import (
	"testing"
	"time"
)

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
