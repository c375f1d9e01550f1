package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// blocklister is an in-memory storage fence (not Ceph: the ceph-blocklist
// driver's own Release from a stored proof runs against a real cluster in
// internal/fence/cephbl): Off adds an entry and proves it, Release lifts
// what the proofs it is handed say it added.
type blocklister struct {
	entries map[string]bool
	lifted  [][]fence.Proof
}

func (b *blocklister) Off(context.Context) (fence.Proof, error) {
	b.entries["10.0.2.1:0/0"] = true
	return fence.Proof{Driver: "ceph-blocklist", Detail: "entries listed", Blocklist: &fence.BlocklistProof{
		Host: "cmp1", Entries: []fence.BlocklistEntry{{Addr: "10.0.2.1:0/0", Ours: true}}, Verified: true}}, nil
}
func (b *blocklister) On(context.Context) error {
	return fmt.Errorf("On: a storage fence lifts from its record")
}
func (b *blocklister) Status(context.Context) (fence.Status, error) {
	if len(b.entries) > 0 {
		return fence.StatusOff, nil
	}
	return fence.StatusOn, nil
}
func (b *blocklister) Release(_ context.Context, r fence.Release) (string, error) {
	b.lifted = append(b.lifted, r.Proofs)
	for _, p := range r.Proofs {
		for _, e := range p.Blocklist.Entries {
			if e.Ours {
				delete(b.entries, e.Addr)
			}
		}
	}
	return "lifted", nil
}

// The leader that fenced cmp1 dies; its successor knows of the fence only
// the journal (the records, through JSON as etcd keeps them). When cmp1
// comes back from a new boot and rejoins, the successor's unfence lifts
// exactly what the dead leader's fence added. Fails before the fix: the
// record held only the proof's summary text, so the successor's unfence
// carried no record and the device lifted nothing.
func TestNewLeaderUnfencesFromTheRecord(t *testing.T) {
	dev := &blocklister{entries: map[string]bool{}}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "ceph", Driver: "ceph-blocklist", Storage: true, Device: dev}}}}}
	cfg := decision.DefaultConfig()
	cfg.Rejoin = decision.RejoinAuto // what the unfence lifts, not who lets the host back
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hosts := []string{"cmp1", "cmp2", "cmp3"}
	lead := func(recs []decision.Record, at time.Time, token uint64) *decision.Engine {
		e, err := decision.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			e.AddHost(decision.HostInfo{Name: h})
		}
		e.Restore(recs)
		e.Step(at, decision.Leadership{Leader: true, Token: token})
		return e
	}
	store := map[string][]byte{}
	var unfences []decision.Action
	run := func(e *decision.Engine, from, to int, alive func(h string, sec int) bool) {
		for sec := from; sec < to; sec++ {
			now := epoch.Add(time.Duration(sec) * time.Second)
			counters := map[string]uint64{}
			for _, h := range hosts {
				counters[h] = 1
				if !alive(h, sec) {
					continue
				}
				counters[h] = uint64(sec)
				boot := "b1"
				if h == "cmp1" && sec > 10 {
					boot = "b2" // back from a reboot
				}
				for _, n := range cfg.Networks {
					e.Step(now, decision.AgentReport{Host: h, Network: n, Self: decision.SelfReport{BootID: boot, NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
				}
				inst := []string{h + "-vm"}
				if h == "cmp1" {
					inst = nil // evacuated: Nova places it elsewhere
				}
				e.Step(now, decision.NovaService{Host: h, Up: true, Instances: inst})
			}
			e.Step(now, decision.StorageHeartbeats{OK: true, Counters: counters})
			rd := e.Tick(now)
			for _, r := range rd.Records {
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				store[r.Host] = b
			}
			e.Step(now, decision.Persisted{Ready: rd.Seq})
			for _, a := range rd.Actions {
				switch a.Kind {
				case decision.ActFence:
					res, _ := FenceTarget(context.Background(), ts, a, fence.Target{}, nil)
					e.Step(now, res)
				case decision.ActEvacuate:
					for _, in := range a.Instances {
						e.Step(now, decision.EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true, Target: "cmp2", Placed: "cmp2", Status: "ACTIVE"})
					}
				case decision.ActUnfence:
					unfences = append(unfences, a)
					e.Step(now, UnfenceAction(context.Background(), ts, a, fence.Release{BootID: "b2"}, nil))
				}
			}
		}
	}
	// cmp1 dies at 5 s and is fenced and evacuated by the first leader.
	run(lead(nil, epoch, 1), 0, 40, func(h string, sec int) bool { return h != "cmp1" || sec < 5 })
	if !dev.entries["10.0.2.1:0/0"] {
		t.Fatal("cmp1 was never blocklisted")
	}
	// The leader dies; its successor restores from the store, and cmp1
	// comes back (boot b2) with none of its old guests.
	var recs []decision.Record
	for _, h := range hosts {
		if b, ok := store[h]; ok {
			var r decision.Record
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
	}
	run(lead(recs, epoch.Add(40*time.Second), 2), 40, 120, func(h string, sec int) bool { return h != "cmp1" || sec >= 60 })

	if len(unfences) == 0 {
		t.Fatal("the successor never unfenced cmp1")
	}
	if len(dev.entries) != 0 {
		t.Errorf("entries left after the rejoin: %v (unfences %+v)", dev.entries, unfences)
	}
	last := dev.lifted[len(dev.lifted)-1]
	if !slices.ContainsFunc(last, func(p fence.Proof) bool {
		return p.Blocklist != nil && strings.Contains(p.Blocklist.Entries[0].Addr, "10.0.2.1")
	}) {
		t.Errorf("the unfence lifted %+v, want the dead leader's record of 10.0.2.1:0/0", last)
	}
}
