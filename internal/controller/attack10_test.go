package controller

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Tenth adversarial review (attack10), against f57739d. Each test fails on
// the code it was written against.

// dropStore is a memStore whose write fails once, the first time a Ready
// carries an action of kind drop (an etcd hiccup: a leader election inside
// etcd, a request timeout; the leader keeps its lease and goes on).
type dropStore struct {
	memStore
	drop    decision.ActionKind
	dropped bool
}

func (s *dropStore) Write(recs []decision.Record, acts []decision.Action) error {
	if !s.dropped && slices.ContainsFunc(acts, func(a decision.Action) bool { return a.Kind == s.drop }) {
		s.dropped = true
		return errors.New("etcdserver: request timed out")
	}
	return s.memStore.Write(recs, acts)
}

// deadHost runs cmp1 dead next to healthy cmp2 and cmp3 for d through loop
// l, fencing cmp1 by method on its first fence action, and returns the
// actions the loop let the runner carry out, by kind.
func deadHost(t *testing.T, l *Loop, method string, d time.Duration) map[decision.ActionKind]int {
	t.Helper()
	done := map[decision.ActionKind]int{}
	for at := time.Duration(0); at < d; at += 500 * time.Millisecond {
		now := t0.Add(at)
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			if hn == "cmp1" && at > 15*time.Second {
				continue // cmp1 dies
			}
			for _, net := range []string{"mgmt", "storage"} {
				_ = l.Step(now, decision.AgentReport{Host: hn, Network: net, Self: decision.SelfReport{BootID: "b", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
			}
		}
		_ = l.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": 1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		_ = l.Step(now, decision.NovaService{Host: "cmp1", Up: at <= 15*time.Second, Instances: []string{"i1"}})
		rd, _ := l.Tick(now)
		for _, a := range rd.Actions {
			done[a.Kind]++
			switch a.Kind {
			case decision.ActFence:
				_ = l.Step(now, decision.FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: method, Proof: "verified"})
			case decision.ActRenewFence:
				_ = l.Step(now, decision.RenewResult{Host: a.Host, OK: true})
			case decision.ActEvacuate:
				for _, in := range a.Instances {
					_ = l.Step(now, decision.EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
				}
			}
		}
	}
	return done
}

// Finding M1 (double writer): a renewal of a blocklist fence is sent once,
// and the engine waits for its result (incident.renewing) before it sends
// another. A Ready whose write fails is not carried out, as it must not be,
// and nothing tells the engine: its renewal never happens and none follows,
// for as long as the incident is open. The blocklist entries expire and
// cmp1, which a blocklist leaves running by design, writes its guests'
// disks again next to the copies vigil started elsewhere. Here one write
// fails at the first renewal, 10 minutes after the fence; in the 40
// minutes the incident stays open no renewal is carried out.
func TestAttack10RenewalInAFailedWriteNeverRetried(t *testing.T) {
	s := &dropStore{memStore: memStore{recs: map[string]decision.Record{}}, drop: decision.ActRenewFence}
	l := New(func() Policy {
		e, err := decision.New(decision.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, hosts, s)
	if _, err := l.Lead(t0, 5); err != nil {
		t.Fatal(err)
	}
	done := deadHost(t, l, "ceph-blocklist", 40*time.Minute)
	if !s.dropped {
		t.Fatalf("setup: no renewal was ever due (actions %v)", done)
	}
	if done[decision.ActRenewFence] == 0 {
		t.Fatalf("DOUBLE WRITER: the first renewal of cmp1's blocklist fence went with a failed write, and in the 40 minutes since none was carried out: its entries lapse while its guests run elsewhere (actions carried out %v)", done)
	}
}

// Finding M2 (instances held forever; J1 makes it every time): the same for
// the evacuation that follows a verified fence. The Ready that carries the
// force-down and the evacuation fails to write; the engine waits for the
// evacuation's result (evacWait), which never comes, and never sends it
// again: cmp1 is fenced and its instances stay down. (The same holds for a
// fence action: inFlight, and Fencing forever.)
func TestAttack10EvacuationInAFailedWriteNeverRetried(t *testing.T) {
	s := &dropStore{memStore: memStore{recs: map[string]decision.Record{}}, drop: decision.ActEvacuate}
	l := New(func() Policy {
		e, err := decision.New(decision.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, hosts, s)
	if _, err := l.Lead(t0, 5); err != nil {
		t.Fatal(err)
	}
	done := deadHost(t, l, "ipmi", 10*time.Minute)
	if !s.dropped {
		t.Fatalf("setup: no evacuation was ever due (actions %v)", done)
	}
	if done[decision.ActEvacuate] == 0 {
		st := l.Status()
		t.Fatalf("INSTANCES HELD: the evacuation after cmp1's verified fence went with a failed write, and in the 10 minutes since none was carried out (actions %v, status %+v)", done, st[0])
	}
}
