package journal

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// Tenth adversarial review (attack10), against f57739d. Each test fails on
// the code it was written against.

// Finding J1 (instances held forever; every recovery): the engine's Ready
// carries a record per persist, not per host, and a verified fence persists
// its host twice in one Ready (the transition to Fenced, then recover's
// transition to Recovering), with the force-down and the evacuation. etcd
// refuses a transaction that puts one key twice ("etcdserver: duplicate key
// given in txn request", etcd-io/etcd#4376), so Write fails, the loop
// returns only the Ready's alerts, and the evacuation is never sent while
// the engine waits for its result (evacWait): the fenced host's instances
// stay down. The same holds for every Ready with two records of one host
// (a grant's placement and a stop notice, an incident opening, ...), and
// for the acks riding with them.
func TestAttack10TwoRecordsOfOneHostFailTheWrite(t *testing.T) {
	s := startEtcd(t)
	a := member(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := a.Campaign(ctx, "ctl-a")
	if err != nil {
		t.Fatal(err)
	}
	e, err := decision.New(decision.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2"} {
		e.AddHost(decision.HostInfo{Name: h})
	}
	l := controller.New(func() controller.Policy { return e }, nil, a)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := l.Lead(t0, tok); err != nil {
		t.Fatal(err)
	}
	// cmp1 goes silent; cmp2 and the storage heartbeats are well; Nova
	// places i1 on cmp1; its power fence works.
	for now := t0; now.Before(t0.Add(60 * time.Second)); now = now.Add(250 * time.Millisecond) {
		for _, net := range []string{"mgmt", "storage"} {
			if err := l.Step(now, decision.AgentReport{Host: "cmp2", Network: net, Self: decision.SelfReport{BootID: "x", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}}); err != nil {
				t.Fatal(err)
			}
		}
		_ = l.Step(now, decision.StorageHeartbeats{OK: true})
		_ = l.Step(now, decision.NovaService{Host: "cmp1", Up: true, Instances: []string{"i1"}})
		rd, err := l.Tick(now)
		if err != nil {
			t.Fatalf("INSTANCES HELD: the write of Ready %d failed (%v): its actions are dropped and the engine waits for their results", rd.Seq, err)
		}
		for _, act := range rd.Actions {
			switch act.Kind {
			case decision.ActFence:
				_ = l.Step(now, decision.FenceResult{Host: act.Host, Level: act.Level, OK: true, Method: "ipmi", Proof: "power off"})
			case decision.ActEvacuate:
				return // sent
			}
		}
	}
	t.Fatal("setup: cmp1 was never fenced and evacuated")
}
