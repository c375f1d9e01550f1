package decision

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// Thirteenth adversarial review (attack13), against a3e9863. Each test
// fails on the code it was written against.

var a13t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// a13 is one leader's engine over cmp1..cmp3, driven every 500 ms like the
// controller loop: inputs come from world(at, e), the Ready is persisted
// into store and its actions go to act(at, e, a), which steps the results.
type a13 struct {
	t     *testing.T
	cfg   Config
	store map[string]Record
	world func(at time.Duration, e *Engine)
	act   func(at time.Duration, e *Engine, a Action)
	// out: every action carried out, with when and by which term.
	out []a13act
}

type a13act struct {
	at   time.Duration
	term uint64
	a    Action
}

func newA13(t *testing.T, cfg Config) *a13 {
	return &a13{t: t, cfg: cfg, store: map[string]Record{}}
}

// lead starts a term at at from the records stored.
func (x *a13) lead(at time.Duration, token uint64) *Engine {
	e, err := New(x.cfg)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(HostInfo{Name: h})
	}
	var recs []Record
	for _, r := range x.store {
		recs = append(recs, r)
	}
	e.Restore(recs)
	e.Step(a13t0.Add(at), Leadership{Leader: true, Token: token})
	return e
}

func (x *a13) run(e *Engine, token uint64, from, to time.Duration) {
	for at := from; at < to; at += 500 * time.Millisecond {
		now := a13t0.Add(at)
		x.world(at, e)
		rd := e.Tick(now)
		for _, r := range rd.Records {
			x.store[r.Host] = r
		}
		if len(rd.Records) > 0 {
			e.Step(now, Persisted{Ready: rd.Seq})
		}
		for _, a := range rd.Actions {
			x.out = append(x.out, a13act{at, token, a})
			x.act(at, e, a)
		}
	}
}

// a13report steps one agent report on both networks.
func a13report(e *Engine, now time.Time, hn, boot string, domains ...string) {
	for _, net := range []string{"mgmt", "storage"} {
		e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: boot, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Domains: domains}})
	}
}

// Finding A (safety, two writers after a failover; the attack12 P5 fix is
// a 30 s hold): a successor keeps an instance its predecessor held for a
// copy elsewhere (Record.CopyElsewhere) only for restartSettle agent
// timeouts after its election, and then evacuates it unless some host it
// has heard since says it runs it. The predecessor held it "from the other
// host's last word until it is fenced or says otherwise" (seenWith); the
// successor never heard that word, and the record does not say which host
// holds the copy, so a host that cannot speak keeps nothing.
//
// i2 live-migrated from cmp1 to cmp2 and switched over (Nova still places
// it on cmp1). cmp1 dies at +15 s, is fenced (ipmi), i1 moves, i2 is held
// for its copy on cmp2. At +60 s cmp2 hangs (kernel stall: no report, no
// heartbeat; after librbd's 30 s watch timeout its watch on i2's disk is
// gone too); cmp2 is not fenced: the brake holds it (two of three hosts
// failed within the window), and were it let through its fence would fail
// (its BMC does not answer). The first
// leader holds i2 for good: cmp2's last word named it, and cmp2 is not
// fenced. It fails over at +2 min; the successor restores cmp1 (Recovering,
// i2 in CopyElsewhere) and cmp2 (Fencing, its fence still failing), hears
// nothing of cmp2, and at +30 s evacuates i2 from cmp1. When cmp2's stall
// clears, its copy of i2 resumes writing next to the evacuated one.
//
// Fix: persist which host held the copy (CopyElsewhere as instance → host),
// and have a successor hold it as its predecessor did: until that host is
// fenced (fenceHolds) or has reported a guest list without it. Failing
// that, hold it until every host not fenced has reported a known guest list
// to this leader.
func TestAttack13SuccessorDropsACopyElsewhereHoldOfAHostItNeverHeard(t *testing.T) {
	x := newA13(t, DefaultConfig())
	var evacuated []string
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		if at <= 15*time.Second {
			a13report(e, now, "cmp1", "b", "i1")
		}
		if at <= 60*time.Second {
			a13report(e, now, "cmp2", "b", "i2")
		}
		a13report(e, now, "cmp3", "b")
		c := map[string]uint64{"cmp1": 1, "cmp2": 1, "cmp3": uint64(at)}
		if at <= 15*time.Second {
			c["cmp1"] = uint64(at)
		}
		if at <= 60*time.Second {
			c["cmp2"] = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: c})
		if at <= 90*time.Second {
			e.Step(now, DiskWriters{Instance: "i2", Hosts: []string{"cmp2"}})
		} else {
			e.Step(now, DiskWriters{Instance: "i2"})
		}
		cmp1 := []string{"i1", "i2"}
		if slices.Contains(evacuated, "i1") {
			cmp1 = []string{"i2"}
		}
		if slices.Contains(evacuated, "i2") {
			cmp1 = slices.DeleteFunc(cmp1, func(s string) bool { return s == "i2" })
		}
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: at > 20*time.Second, Instances: cmp1, Status: map[string]string{"i1": NovaActive, "i2": NovaActive}})
		e.Step(now, NovaService{Host: "cmp2", Up: at <= 60*time.Second, Instances: nil})
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
		switch a.Kind {
		case ActFence:
			if a.Host == "cmp2" {
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Method: "ipmi", Err: "BMC unreachable"})
				return
			}
			e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "chassis power read back off"})
		case ActEvacuate:
			for _, in := range a.Instances {
				evacuated = append(evacuated, in)
				e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
			}
		}
	}
	e := x.lead(0, 1)
	x.run(e, 1, 0, 2*time.Minute)
	if !slices.Equal(evacuated, []string{"i1"}) || x.store["cmp1"].Phase != Recovering || !slices.Contains(x.store["cmp1"].CopyElsewhere["i2"], "cmp2") {
		t.Fatalf("setup: the first leader should have moved i1 and held i2 for its copy on cmp2: evacuated %v, record %+v", evacuated, x.store["cmp1"])
	}
	if r := x.store["cmp2"]; r.Fence != nil || r.Failed.IsZero() {
		t.Fatalf("setup: cmp2 should be failed and not fenced: %+v", r)
	}
	s := x.lead(2*time.Minute+3*time.Second, 2)
	x.run(s, 2, 2*time.Minute+3*time.Second, 4*time.Minute)
	for _, o := range x.out {
		if o.term == 2 && o.a.Kind == ActEvacuate && slices.Contains(o.a.Instances, "i2") {
			t.Fatalf("TWO WRITERS: the successor evacuated i2 from cmp1 at +%v, while cmp2, which its predecessor held it for (cmp2's last word: it runs i2), is hung and not fenced (its fence fails): %s", o.at, o.a)
		}
	}
}

// Finding B (safety, two writers; Unmoved set when something did move):
// an evacuation in flight at a failover is not on record (Record.Moving is
// only what Nova was seen to accept; evacWait is not persisted), so the
// successor believes nothing of the incident moved; if the host's fence is
// undone before the successor sends the evacuation again (the executor
// would find it moved and say so), nothing ever tells it otherwise: in
// rejoining no evacuation is retried. A later fence round (rejoin-silent)
// that the host aborts then closes the incident as an aborted first fence:
// "no instance was moved", and the unfence goes out Unmoved, which lifts
// the blocklist with no evidence of a reset (fence.Release.Unmoved).
//
// cmp1's BMC lies (it acknowledges power off and does nothing), so of its
// ipmi+ceph-blocklist fence only the blocklist holds. cmp1 hangs at +15 s;
// it is fenced and i1's evacuation goes out; the leader dies before any
// result. Nova accepts it (i1 runs on cmp2); cmp1's hang clears as the
// successor takes over, and its agent answers at once: the successor's
// first tick finds the fence undone (agent answers after a power fence)
// and goes to rejoining, "0 of 1 instances moved". cmp1 still runs its
// stale i1 (blocklisted), which the successor sees and names itself
// (rejoin-blocked: "still runs i1, which Nova places elsewhere"). cmp1
// then stalls in userspace (agent silent, kernel answers ping): after
// dead_after the successor fences it again (rejoin-silent) with the probe
// armed; the probe answers, the fence is aborted, the incident closed and
// the unfence sent Unmoved. The blocklist goes, and cmp1's i1 writes again
// next to cmp2's as soon as its userspace resumes.
//
// Fix: count as moved (moved(), and rejoinStalled's held) every instance of
// the incident that Nova places on another host, or that the host runs
// while Nova places it elsewhere; and persist evacuations in flight
// (evacWait) in Record.Moving, so a successor knows a call may have
// reached Nova. An unfence that closes an incident in which anything may
// have moved must never be Unmoved.
func TestAttack13SuccessorUnfencesUnmovedAfterAnEvacuationInFlight(t *testing.T) {
	x := newA13(t, DefaultConfig())
	evacAt := time.Duration(-1)
	var l2At, stallAt time.Duration = -1, -1
	hung := func(at time.Duration) bool {
		switch {
		case at <= 15*time.Second:
			return false
		case l2At < 0 || at < l2At:
			return true // hung until the successor leads
		case stallAt >= 0 && at >= stallAt:
			return true // the userspace stall
		}
		return false
	}
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		if !hung(at) {
			a13report(e, now, "cmp1", "b", "i1")
		}
		a13report(e, now, "cmp2", "b")
		a13report(e, now, "cmp3", "b")
		c := map[string]uint64{"cmp1": 1, "cmp2": uint64(at), "cmp3": uint64(at)}
		if at <= 15*time.Second {
			c["cmp1"] = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: c})
		accepted := evacAt >= 0 && at >= evacAt+5*time.Second
		switch {
		case accepted:
			e.Step(now, NovaService{Host: "cmp1", ForcedDown: true})
			e.Step(now, NovaService{Host: "cmp2", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		default:
			e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: evacAt >= 0, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
			e.Step(now, NovaService{Host: "cmp2", Up: true})
		}
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
		switch a.Kind {
		case ActFence:
			if evacAt < 0 {
				// The BMC acknowledges and reads back off (it lies); the
				// blocklist goes on.
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi+ceph-blocklist", Proof: "chassis power read back off; entries listed"})
				return
			}
			// The new round: cmp1's kernel answers the probe.
			e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Method: "ipmi+ceph-blocklist", Aborted: AbortHostAnswers, Err: "ping on the storage network, right before the power-off"})
		case ActEvacuate:
			if evacAt < 0 {
				evacAt = at // carried out; its result dies with the leader
			}
		case ActUnfence:
			e.Step(now, UnfenceResult{Host: a.Host, OK: true})
		}
	}
	e := x.lead(0, 1)
	for at := time.Duration(0); at < time.Minute && evacAt < 0; at += 500 * time.Millisecond {
		x.run(e, 1, at, at+500*time.Millisecond)
	}
	if evacAt < 0 {
		t.Fatalf("setup: the first leader never evacuated i1 (status %+v)", e.Status()[0])
	}
	// The leader dies with the evacuation out; Nova accepts it 5 s later,
	// the successor leads 10 s later, and cmp1's hang clears then.
	l2At = evacAt + 10*time.Second
	stallAt = l2At + 40*time.Second
	s := x.lead(l2At, 2)
	x.run(s, 2, l2At, l2At+3*time.Minute)
	rejoining := false
	for _, o := range x.out {
		if o.term != 2 || o.a.Host != "cmp1" {
			continue
		}
		if o.a.Kind == ActAlert && o.a.Code == "rejoin-blocked" {
			rejoining = true
		}
		if o.a.Kind == ActUnfence {
			if !rejoining {
				t.Fatalf("setup: the successor unfenced cmp1 before it saw it back with its stale i1: %s", o.a)
			}
			t.Fatalf("TWO WRITERS: i1 was evacuated (Nova runs it on cmp2) and cmp1 still runs its stale copy (the successor said so: rejoin-blocked), yet at +%v the successor unfenced cmp1 (Unmoved %v, rule %s): %s", o.at, o.a.Unmoved, o.a.Rule, o.a.Reason)
		}
	}
	if !rejoining {
		t.Fatalf("setup: the successor never saw cmp1 back running i1 (status %+v)", s.Status()[0])
	}
}

// Finding D (liveness: a host left blocklisted after a clean rejoin; its
// record deleted): a renewal in flight when the host rejoins, which fails
// after it re-added entries the rejoin's unfence had lifted, is never
// followed by another unfence. The real device re-adds a recorded entry
// it finds gone ("added again": cephbl Renew, case r.Ours && !listed) and
// returns the original proof with any later error; RenewAction hands the
// engine those records with OK false. renewResult, with no incident, puts
// them back among the records to lift but lifts them only when OK: no
// unfence is due, so the record (LiftRecords, no UnfenceDue) is Empty to
// the store and deleted, and the host runs healthy with its guests unable
// to write.
//
// cmp1 dies at +15 s and is fenced by blocklist; i1 moves. Its renewal at
// +1m15s is slow (the monitors are electing a leader). cmp1 comes back
// from a new boot at +2m30s and rejoins cleanly: the unfence lifts its
// entries. The renewal then goes on, re-adds the entries it finds gone,
// and fails on the next command. Nothing lifts them again.
//
// Fix: after the incident is closed, treat any renewal result that
// carries records (or any at all) as one that may have re-added entries:
// lift them again (unfence, retried), and have controller.Empty keep a
// record that still has LiftRecords.
func TestAttack13FailedRenewalAfterRejoinLeavesTheHostBlocklisted(t *testing.T) {
	cfg := autoRejoin()
	cfg.FenceRenew = time.Minute
	x := newA13(t, cfg)
	rec := json.RawMessage(`{"driver":"ceph-blocklist","blocklist":{"entries":[{"addr":"10.0.2.1:0/0","ours":true}]}}`)
	back := 150 * time.Second
	var pendingRenew *Action
	rejoined := time.Duration(-1)
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		alive := at <= 15*time.Second || at >= back
		if alive {
			boot, doms := "b", []string{"i1"}
			if at >= back {
				boot, doms = "b2", nil
			}
			a13report(e, now, "cmp1", boot, doms...)
		}
		a13report(e, now, "cmp2", "b")
		a13report(e, now, "cmp3", "b")
		c1 := uint64(1)
		if alive {
			c1 = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		if at <= 15*time.Second {
			e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		} else {
			e.Step(now, NovaService{Host: "cmp1", Up: at >= back, ForcedDown: rejoined < 0})
			e.Step(now, NovaService{Host: "cmp2", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		}
		if rejoined >= 0 && pendingRenew != nil && at >= rejoined+2*time.Second {
			// The slow renewal re-added the entry the unfence lifted,
			// then failed: the device returns the proof it was given.
			e.Step(now, RenewResult{Host: "cmp1", Err: "ceph: osd blocklist add: monitor election in progress", Records: pendingRenew.Records})
			pendingRenew = nil
		}
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
		switch a.Kind {
		case ActFence:
			e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ceph-blocklist", Proof: "entries listed", Records: []json.RawMessage{rec}})
		case ActEvacuate:
			for _, in := range a.Instances {
				e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
			}
		case ActRenewFence:
			if pendingRenew == nil {
				a := a
				pendingRenew = &a // slow: its result comes after the rejoin
			}
		case ActUnfence:
			if rejoined < 0 {
				rejoined = at
			}
			e.Step(now, UnfenceResult{Host: a.Host, OK: true})
		}
	}
	e := x.lead(0, 1)
	x.run(e, 1, 0, 6*time.Minute)
	if rejoined < 0 {
		t.Fatalf("setup: cmp1 never rejoined (status %+v)", e.Status()[0])
	}
	unfences := 0
	for _, o := range x.out {
		if o.a.Host == "cmp1" && o.a.Kind == ActUnfence && o.at >= rejoined+2*time.Second { // the renewal's result comes then
			unfences++
		}
	}
	if unfences == 0 {
		r := x.store["cmp1"]
		t.Fatalf("HOST LEFT BLOCKLISTED: a renewal in flight at cmp1's rejoin (+%v) re-added its entry and failed; vigil never lifted it again (cmp1's record: phase %q, unfence due %v, lift records %d)", rejoined, r.Phase, r.UnfenceDue, len(r.LiftRecords))
	}
}

// Finding E (liveness: an instance held for good, and Nova's word on it
// dropped): evacuateResult ignores every result while the incident has no
// fence, and refence clears the fence for the new round. An evacuation
// still out when the fence was found undone (its rebuild polled for up to
// 30 s) reports during the rejoin-silent round and is dropped: evacWait
// stays set, so neither recover nor retryEvacuations sends it again, and
// its done never comes; the incident stays Recovering for good (and a
// move that did happen is not counted).
//
// cmp1 (i1, i2) loses power at +15 s and is fenced (ipmi). i1's
// evacuation goes out and Nova accepts it (the rebuild takes a while);
// for i2 the executor's re-read finds the power back on (someone pressed
// the button): the fence is lost, evacuation stops, cmp1 is rejoining.
// cmp1 boots slowly and says nothing; after dead_after vigil fences it
// again (rejoin-silent). The first round fails (the BMC times out); i1's
// result, rebuilt ACTIVE on cmp2, arrives then, and is dropped. The next
// round powers cmp1 off; i2 moves; i1 is never counted moved, nor sent
// again, and cmp1's incident never ends.
//
// Fix: keep taking evacuation results in a refence round (the incident's
// fence of record is inc.prior then), or at least clear evacWait for a
// result that comes while the fence is nil, so the next round resends it
// (the executor answers an instance already moved with done).
func TestAttack13EvacuationResultDroppedInARefenceRound(t *testing.T) {
	x := newA13(t, DefaultConfig())
	var powerOn, i1Out time.Duration = -1, -1
	i1Done, i2Moved, fenceN := false, false, 0
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		if at <= 15*time.Second {
			a13report(e, now, "cmp1", "b", "i1", "i2")
		}
		a13report(e, now, "cmp2", "b")
		a13report(e, now, "cmp3", "b")
		c1 := uint64(1)
		if at <= 15*time.Second {
			c1 = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		p := PowerOff
		if powerOn >= 0 && at >= powerOn {
			p = PowerOn
		}
		if at > 15*time.Second {
			e.Step(now, BMCReading{Host: "cmp1", Power: p})
		}
		var on1, on2, on3 []string
		if i1Out >= 0 && at >= i1Out+2*time.Second {
			on2 = []string{"i1"} // Nova accepted i1's evacuation
		} else {
			on1 = append(on1, "i1")
		}
		if i2Moved {
			on3 = []string{"i2"}
		} else {
			on1 = append(on1, "i2")
		}
		st := map[string]string{"i1": NovaActive, "i2": NovaActive}
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: at > 20*time.Second, Instances: on1, Status: st})
		e.Step(now, NovaService{Host: "cmp2", Up: true, Instances: on2, Status: st})
		e.Step(now, NovaService{Host: "cmp3", Up: true, Instances: on3, Status: st})
		if i1Out >= 0 && !i1Done && fenceN >= 2 {
			// Rebuilt ACTIVE on cmp2: the executor's poll reports it now,
			// during the new fence round.
			i1Done = true
			e.Step(now, EvacuateResult{Host: "cmp1", Instance: "i1", OK: true, Accepted: true, Target: "cmp2", Placed: "cmp2", Status: NovaActive})
		}
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
		switch a.Kind {
		case ActFence:
			fenceN++
			if fenceN == 2 {
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Method: "ipmi", Err: "BMC timed out"})
				return
			}
			e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "chassis power read back off"})
			if fenceN == 3 {
				powerOn = -1
			}
		case ActEvacuate:
			for _, in := range a.Instances {
				switch {
				case in == "i1" && i1Out < 0:
					i1Out = at // accepted; its result comes when rebuilt
				case in == "i2" && fenceN == 1:
					powerOn = at
					e.Step(now, EvacuateResult{Host: a.Host, Instance: in, FenceLost: true, Err: "fence no longer holds: chassis power reads on"})
				default:
					i2Moved = i2Moved || in == "i2"
					e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
				}
			}
		}
	}
	e := x.lead(0, 1)
	x.run(e, 1, 0, 10*time.Minute)
	if fenceN < 3 || !i1Done {
		t.Fatalf("setup: want the power fence, a failed and a good rejoin-silent round, and i1's late result: %d fences, i1 reported %v (status %+v)", fenceN, i1Done, e.Status()[0])
	}
	if r := x.store["cmp1"]; r.Phase != Recovered && r.Phase != Rejoining && r.Phase != "" {
		t.Fatalf("HELD FOR GOOD: i1 rebuilt ACTIVE on cmp2 and its result came during the rejoin-silent round; 10 min later cmp1's incident is %s with done %v (moving %v): i1 is never counted moved nor sent again", r.Phase, r.Done, r.Moving)
	}
}
