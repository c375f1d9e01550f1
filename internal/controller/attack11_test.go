package controller

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Eleventh adversarial review (attack11), against c966ce6. Each test fails
// on the code it was written against.

// deadThenBack runs cmp1 dead from +15 s next to healthy cmp2 and cmp3,
// fences it by method on its first fence action and evacuates its
// instance; from back on (0: never) it answers again from a new boot that
// runs no guest, with nova-compute running, and Nova places nothing on it.
// It returns the actions the loop let the runner carry out, by kind; evac
// answers each evacuation carried out.
func deadThenBack(t *testing.T, l *Loop, method string, back, d time.Duration, evac func(decision.Action) []decision.EvacuateResult) map[decision.ActionKind]int {
	t.Helper()
	done := map[decision.ActionKind]int{}
	for at := time.Duration(0); at < d; at += 500 * time.Millisecond {
		now := t0.Add(at)
		alive := at <= 15*time.Second || back > 0 && at >= back
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			if hn == "cmp1" && !alive {
				continue
			}
			boot := "b"
			if hn == "cmp1" && back > 0 && at >= back {
				boot = "b2"
			}
			for _, net := range []string{"mgmt", "storage"} {
				_ = l.Step(now, decision.AgentReport{Host: hn, Network: net, Self: decision.SelfReport{BootID: boot, NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
			}
		}
		c1 := uint64(1)
		if alive {
			c1 = uint64(at)
		}
		_ = l.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		ins := []string{"i1"}
		if at > 15*time.Second {
			ins = nil
			if done[decision.ActEvacuate] == 0 {
				ins = []string{"i1"}
			}
		}
		_ = l.Step(now, decision.NovaService{Host: "cmp1", Up: alive, Instances: ins})
		rd, _ := l.Tick(now)
		for _, a := range rd.Actions {
			done[a.Kind]++
			switch a.Kind {
			case decision.ActFence:
				_ = l.Step(now, decision.FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: method, Proof: "verified"})
			case decision.ActRenewFence:
				_ = l.Step(now, decision.RenewResult{Host: a.Host, OK: true})
			case decision.ActUnfence:
				_ = l.Step(now, decision.UnfenceResult{Host: a.Host, OK: true})
			case decision.ActEvacuate:
				for _, r := range evac(a) {
					_ = l.Step(now, r)
				}
			}
		}
	}
	return done
}

func evacOK(a decision.Action) []decision.EvacuateResult {
	var out []decision.EvacuateResult
	for _, in := range a.Instances {
		out = append(out, decision.EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
	}
	return out
}

func dropLoop(t *testing.T, drop decision.ActionKind) (*Loop, *countStore) {
	s := &countStore{dropStore: dropStore{memStore: memStore{recs: map[string]decision.Record{}}, drop: drop}, written: map[decision.ActionKind]int{}}
	l := New(func() Policy {
		cfg := decision.DefaultConfig()
		cfg.Rejoin = decision.RejoinAuto // what a failed write drops, not who lets a host back
		e, err := decision.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, hosts, s)
	if _, err := l.Lead(t0, 5); err != nil {
		t.Fatal(err)
	}
	return l, s
}

// Finding N1 (a healthy host kept out of service, nobody told): a clean
// rejoin emits the unfence and the re-enable of nova-compute (unset forced
// down, enable the service) in one Ready, and moves the host to Healthy at
// once. When that write fails, Unwritten makes fences, evacuations,
// renewals, force-downs and restarts due again, and the unfence retries
// itself (unfenceDue); the re-enable is nobody's: the host is healthy, its
// incident gone, and nothing ever sends it again. cmp1 stays forced down
// and disabled in Nova for good (no instance is scheduled there; Nova
// reports it down), while vigil shows it Healthy and raised no alert.
func TestAttack11ReEnableInAFailedWriteNeverRetried(t *testing.T) {
	l, s := dropLoop(t, decision.ActReEnable)
	done := deadThenBack(t, l, "ipmi", 5*time.Minute, 15*time.Minute, evacOK)
	if !s.dropped {
		t.Fatalf("setup: cmp1 never rejoined (actions %v, status %+v)", done, l.Status()[0])
	}
	if st := l.Status()[0]; st.State != decision.Healthy {
		t.Fatalf("setup: cmp1 is %s, not healthy (actions %v)", st.State, done)
	}
	if done[decision.ActReEnable] == 0 {
		t.Fatalf("HEALTHY HOST OUT OF SERVICE, NOBODY TOLD: the Ready with cmp1's re-enable failed to write; in the 10 minutes since vigil showed it Healthy and never sent the re-enable again: nova-compute on cmp1 stays forced down and disabled (actions carried out %v)", done)
	}
}

// Finding N2 (instances held, or moved late): Unwritten clears
// incident.forced for a force-down that went with a failed write, so that
// "recover" sends it again; but recover runs only from Fencing and Fenced,
// and the failed Ready moved the host to Recovering already, where only
// evacuations are retried. The force-down is never sent: Nova refuses
// every evacuation while it thinks cmp1's nova-compute is up (a blocklist
// fence leaves the host, and its nova-compute, running by design), and
// vigil's evacuations fail until the operator reads evacuate-failed.
// Here the executor answers evacuations as Nova does: refused until cmp1
// is forced down.
func TestAttack11ForceDownInAFailedWriteNeverRetried(t *testing.T) {
	l, s := dropLoop(t, decision.ActForceDown)
	evac := func(a decision.Action) []decision.EvacuateResult {
		if s.written[decision.ActForceDown] == 0 { // Nova: the service is up
			var out []decision.EvacuateResult
			for _, in := range a.Instances {
				out = append(out, decision.EvacuateResult{Host: a.Host, Instance: in, Err: "Compute service of cmp1 is still in use. (HTTP 400)"})
			}
			return out
		}
		return evacOK(a)
	}
	done := deadThenBack(t, l, "ceph-blocklist", 0, 10*time.Minute, evac)
	if !s.dropped {
		t.Fatalf("setup: no force-down was ever due (actions %v)", done)
	}
	if done[decision.ActForceDown] == 0 {
		t.Fatalf("INSTANCES HELD: the Ready with cmp1's force-down failed to write; in the 10 minutes since it was never sent again, only %d evacuations Nova refuses (actions carried out %v, status %+v)", done[decision.ActEvacuate], done, l.Status()[0])
	}
}

// countStore is a dropStore that counts the actions it wrote, by kind: what
// the runner carries out.
type countStore struct {
	dropStore
	written map[decision.ActionKind]int
}

func (s *countStore) Write(recs []decision.Record, acts []decision.Action) error {
	if err := s.dropStore.Write(recs, acts); err != nil {
		return err
	}
	for _, a := range acts {
		s.written[a.Kind]++
	}
	return nil
}

// partitioned runs cmp1 cut off from the controllers between +15 s and
// back (its agent, peers and heartbeat unseen; it runs on) next to healthy
// cmp2 and cmp3, from from to to through l. Fences are carried out (a
// blocklist: the host runs on, unable to write) and answered only when
// answer says so. It returns the actions carried out, by kind and host.
func partitioned(l *Loop, from, to, back time.Duration, answer bool) map[string]int {
	done := map[string]int{}
	for at := from; at < to; at += 500 * time.Millisecond {
		now := t0.Add(at)
		seen := at <= 15*time.Second || at >= back
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			if hn == "cmp1" && !seen {
				continue
			}
			self := decision.SelfReport{BootID: "b", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}
			if hn == "cmp1" {
				self.Domains = []string{"i1"} // it runs on, blocklisted
			}
			for _, net := range []string{"mgmt", "storage"} {
				_ = l.Step(now, decision.AgentReport{Host: hn, Network: net, Self: self})
			}
		}
		c1 := uint64(1)
		if seen {
			c1 = uint64(at)
		}
		_ = l.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		_ = l.Step(now, decision.NovaService{Host: "cmp1", Up: seen, Instances: []string{"i1"}})
		rd, _ := l.Tick(now)
		for _, a := range rd.Actions {
			done[string(a.Kind)+":"+a.Host]++
			if a.Kind == decision.ActFence && answer {
				_ = l.Step(now, decision.FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ceph-blocklist", Proof: "blocklisted"})
			}
		}
	}
	return done
}

// Finding N6 (a healthy host left fenced, nobody told): Unwritten makes
// the actions of a failed write due again, but not its records, and no
// later Ready writes them: the Ready that opened cmp1's incident carried
// its only Fencing record (open persists once; sendFence, which sends the
// fence again, persists nothing). The fence goes out in a later Ready with
// no record, the blocklist goes on, and the leader dies before its result
// (the etcd trouble that failed the first write is what costs a leader its
// lease). The successor finds no incident for cmp1; when the partition
// heals, cmp1 answers, is healthy in vigil's eyes, and nobody lifts its
// blocklist: it runs and cannot write its disks. With the open record
// written, the successor restores the incident in Fencing, sees cmp1
// alive, and lifts the fence (fence-aborted): the control below.
func TestAttack11FenceRecordOfAFailedWriteNeverWritten(t *testing.T) {
	for _, drop := range []bool{false, true} {
		s := &countStore{dropStore: dropStore{memStore: memStore{recs: map[string]decision.Record{}}, drop: decision.ActFence, dropped: !drop}, written: map[decision.ActionKind]int{}}
		l := New(engine(t), hosts, s)
		if _, err := l.Lead(t0, 5); err != nil {
			t.Fatal(err)
		}
		done := partitioned(l, 0, 40*time.Second, time.Hour, false)
		if done["fence:cmp1"] == 0 || drop && !s.dropped {
			t.Fatalf("setup (drop %v): no fence of cmp1 was carried out (actions %v)", drop, done)
		}
		// The leader dies with the blocklist on and its result unseen.
		l2 := New(engine(t), hosts, s)
		if _, err := l2.Lead(t0.Add(50*time.Second), 6); err != nil {
			t.Fatal(err)
		}
		done = partitioned(l2, 50*time.Second, 15*time.Minute, 60*time.Second, true)
		if done["unfence:cmp1"] == 0 {
			t.Fatalf("HEALTHY HOST FENCED, NOBODY TOLD (the first write failed: %v): cmp1's blocklist went on under a fence whose incident was never written; the successor never lifted it in 14 minutes while cmp1 answers (status %+v, actions %v)", drop, l2.Status()[0], done)
		}
	}
}

// recPolicy is a test double of Policy (our own interface): it records the
// inputs it is stepped with.
type recPolicy struct {
	mu  *sync.Mutex
	ins *[]decision.Input
}

func (p recPolicy) AddHost(decision.HostInfo)                 {}
func (p recPolicy) Restore([]decision.Record)                 {}
func (p recPolicy) RestoreSnapshot([]decision.Record, uint64) {}
func (p recPolicy) Status() []decision.HostStatus             { return nil }
func (p recPolicy) Tick(time.Time) decision.Ready             { return decision.Ready{} }
func (p recPolicy) Grant(time.Time, decision.AgentReport) (decision.Grant, error) {
	return decision.Grant{}, nil
}
func (p recPolicy) Step(_ time.Time, in decision.Input) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.ins = append(*p.ins, in)
}

// gateLead is a Leadership whose Campaign returns when elect is closed.
type gateLead struct {
	elect   chan struct{}
	elected atomic.Bool
}

func (g *gateLead) Campaign(ctx context.Context, _ string) (uint64, error) {
	select {
	case <-g.elect:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	g.elected.Store(true)
	return 7, nil
}

func (g *gateLead) Deadline() time.Time {
	if !g.elected.Load() {
		return time.Time{}
	}
	return time.Now().Add(time.Hour)
}

func (g *gateLead) Resign(context.Context) error { g.elected.Store(false); return nil }

type nopExec struct{}

func (nopExec) Execute(context.Context, decision.Action) {}

// Finding N7 (stale results taken as fresh; a double writer with an old
// fence result): Submit says an input "is dropped when the runner does not
// lead", but only a failed campaign drains the queue. While a member waits
// in a campaign that later succeeds (another member leads for hours), and
// after lead returns when its lease ran out, what collectors and its
// executor submit waits in the channel, and the next term's fresh policy
// steps all of it at time.Now(): a peer that reached a host an hour ago
// reached it now; a FenceResult{OK} of a fence this member sent in an old
// term (FenceResult names no incident, no term) verifies the fence of
// whatever incident that host has in Fencing now, restored from a record
// written by another leader since: vigil evacuates a host whose power-off
// is an hour-old read. Here a FenceResult submitted while the member
// campaigns reaches the policy it leads with.
func TestAttack11InputsSubmittedWhileNotLeadingReachTheNextTerm(t *testing.T) {
	var mu sync.Mutex
	var ins []decision.Input
	l := New(func() Policy { return recPolicy{mu: &mu, ins: &ins} }, hosts, &memStore{recs: map[string]decision.Record{}})
	g := &gateLead{elect: make(chan struct{})}
	r := NewRunner("m1", l, g, nopExec{}, func(decision.Ack) {}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Every = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // campaigning
	r.Submit(decision.FenceResult{Host: "cmp1", Level: 1, OK: true, Method: "ipmi", Proof: "power off (an old term's fence)"})
	r.Submit(decision.PeerReport{Host: "cmp1", Network: "mgmt", Observer: "cmp2", Reachable: true})
	time.Sleep(50 * time.Millisecond)
	close(g.elect)
	time.Sleep(100 * time.Millisecond)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	var stale []string
	for _, in := range ins {
		switch m := in.(type) {
		case decision.FenceResult:
			stale = append(stale, "FenceResult "+m.Proof)
		case decision.PeerReport:
			stale = append(stale, "PeerReport of "+m.Host+" by "+m.Observer)
		}
	}
	if len(stale) > 0 {
		t.Fatalf("STALE INPUT TAKEN AS NEW: inputs submitted while the member did not lead were stepped, at the time they were dequeued, into the policy of its next term: %v", stale)
	}
}

// Finding N11 (double writer; N6 with the evacuation): cmp1 is cut off
// from the controllers but runs on with i1. Its blocklist fence is
// verified; the Ready with the transition to Fenced, Recovering (both
// records), the force-down and the evacuation fails to write. Unwritten
// makes the evacuation due again and it is carried out in a later Ready
// with no record (retryEvacuations persists nothing): Nova rebuilds i1 on
// another host while the journal still says cmp1 is in Fencing with no
// fence. The leader dies before the rebuild's result. The successor
// restores an unverified Fencing incident; cmp1 answers again (the
// partition heals), so "the host answered again before any fence took
// effect" and it lifts the fence (fence-aborted: "no instance was moved,
// so nothing can write twice"): cmp1's i1 writes its disk again next to
// the rebuilt copy. With the Recovering record written, the successor
// keeps the fence and evacuates again (the control).
func TestAttack11EvacuationOfAFailedWriteCarriedOutWithNoFenceOnRecord(t *testing.T) {
	for _, drop := range []bool{false, true} {
		s := &countStore{dropStore: dropStore{memStore: memStore{recs: map[string]decision.Record{}}, drop: decision.ActEvacuate, dropped: !drop}, written: map[decision.ActionKind]int{}}
		l := New(engine(t), hosts, s)
		if _, err := l.Lead(t0, 5); err != nil {
			t.Fatal(err)
		}
		done := partitioned(l, 0, 60*time.Second, time.Hour, true)
		if done["evacuate:cmp1"] == 0 || drop && !s.dropped {
			t.Fatalf("setup (drop %v): no evacuation of cmp1 was carried out (actions %v)", drop, done)
		}
		l2 := New(engine(t), hosts, s)
		if _, err := l2.Lead(t0.Add(60*time.Second), 6); err != nil {
			t.Fatal(err)
		}
		done = partitioned(l2, 60*time.Second, 10*time.Minute, 70*time.Second, true)
		if done["unfence:cmp1"] > 0 {
			t.Fatalf("DOUBLE WRITER (the first evacuation's write failed: %v): i1's evacuation off cmp1 was carried out, the leader died before its result, and the successor lifted cmp1's blocklist while cmp1 runs i1 (status %+v, actions %v, record %+v)", drop, l2.Status()[0], done, s.recs["cmp1"])
		}
	}
}
