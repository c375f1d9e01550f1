package decision

import (
	"testing"
	"time"
)

// Eleventh adversarial review (attack11), against c966ce6. Each test fails
// on the code it was written against.

// a11 drives an engine over cmp1..cmp4 (no watchdog) and keeps the records
// it writes, like the store. The executor answers unfences of cmp1 with a
// failure and never answers fences (they run on).
type a11 struct {
	t     *testing.T
	cfg   Config
	e     *Engine
	store map[string]Record
	acts  []Action
}

func newA11(t *testing.T, recs []Record, at time.Time) *a11 {
	cfg := DefaultConfig()
	cfg.MaxConcurrentFences = 1
	x := &a11{t: t, cfg: cfg, store: map[string]Record{}}
	x.lead(recs, at, 1)
	return x
}

func (x *a11) lead(recs []Record, at time.Time, token uint64) {
	e, err := New(x.cfg)
	if err != nil {
		x.t.Fatal(err)
	}
	for _, n := range []string{"cmp1", "cmp2", "cmp3", "cmp4"} {
		e.AddHost(HostInfo{Name: n})
	}
	e.Restore(recs)
	e.Step(at, Leadership{Leader: true, Token: token})
	x.e, x.acts = e, nil
}

// run plays from..to in steps of 500 ms, the hosts alive(at) says
// reporting, and returns the actions.
func (x *a11) run(from, to time.Time, alive func(host string, at time.Time) bool) {
	for at := from; at.Before(to); at = at.Add(500 * time.Millisecond) {
		counters := map[string]uint64{}
		for _, hn := range []string{"cmp1", "cmp2", "cmp3", "cmp4"} {
			counters[hn] = 1
			if !alive(hn, at) {
				continue
			}
			counters[hn] = uint64(at.UnixNano())
			for _, net := range []string{"mgmt", "storage"} {
				x.e.Step(at, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
		}
		x.e.Step(at, StorageHeartbeats{OK: true, Counters: counters})
		rd := x.e.Tick(at)
		for _, r := range rd.Records {
			x.store[r.Host] = r
		}
		if len(rd.Records) > 0 {
			x.e.Step(at, Persisted{Ready: rd.Seq})
		}
		x.acts = append(x.acts, rd.Actions...)
		for _, a := range rd.Actions {
			if a.Kind == ActUnfence {
				x.e.Step(at, UnfenceResult{Host: a.Host, Err: "mon unreachable"})
			}
		}
	}
}

func (x *a11) records() []Record {
	var out []Record
	for _, r := range x.store {
		out = append(out, r)
	}
	return out
}

// Finding N5 (a healthy host left fenced, nobody told after a failover):
// a host held failed by a cluster rule (here fence-slots: cmp2's fence
// runs on) that turns healthy gets a hand-made record, "no longer held"
// (engine.episode: Host, Failed and the watchdog, nothing else). It drops
// what record() writes for a host without an incident: the unfence that
// is due (UnfenceDue, UnfenceErr). Since Journal.Write keeps the last
// record of each host, it replaces any full one of the same Ready too.
// cmp1's unfence failed (its blocklist entries are still on: it runs and
// cannot write its disks), it went silent for a while and was held, then
// answered; the leader fails over before the next failed retry writes the
// due unfence again, and the successor never retries it, nor says so.
func TestAttack11HeldHostRecoversAndLosesItsDueUnfence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due := t0.Add(5 * time.Second)
	x := newA11(t, []Record{{Host: "cmp1", UnfenceDue: due, UnfenceErr: "mon unreachable"}}, t0)
	alive := func(hn string, at time.Time) bool {
		d := at.Sub(t0)
		switch hn {
		case "cmp2":
			return d < 20*time.Second
		case "cmp1":
			return d < 30*time.Second || d >= 50*time.Second
		}
		return true
	}
	x.run(t0, t0.Add(45*time.Second), alive)
	if st := x.e.Status(); !st[0].Held || st[0].Rule != "fence-slots" || x.store["cmp1"].UnfenceDue.IsZero() {
		t.Fatalf("setup: cmp1 should be held by fence-slots with its unfence due in its record: %+v, record %+v", st[0], x.store["cmp1"])
	}
	x.run(t0.Add(45*time.Second), t0.Add(52*time.Second), alive)
	st := x.e.Status()
	if st[0].Held || st[0].State == Failed || st[0].Unfence == "" {
		t.Fatalf("setup: cmp1 should be back and its unfence still due: %+v", st[0])
	}
	lost := x.store["cmp1"].UnfenceDue.IsZero()
	// Failover now: a successor from the store.
	at := t0.Add(53 * time.Second)
	x.lead(x.records(), at, 2)
	x.run(at, at.Add(10*time.Minute), alive)
	for _, a := range x.acts {
		if a.Kind == ActUnfence && a.Host == "cmp1" {
			return
		}
	}
	t.Fatalf("HEALTHY HOST FENCED, NOBODY TOLD: cmp1's unfence was due (its blocklist entries on: it cannot write its disks); it was held failed, came back, and its record lost the due unfence (record without it: %v); in the 10 minutes after the failover the successor never sent it (successor's status %+v)", lost, x.e.Status()[0])
}

// Finding N10 (a healthy host's storage cut, nobody told after a
// failover; L5's fix): a renewal in flight at a clean rejoin that comes
// back having added the entries again is answered with an unfence
// (renewal-after-rejoin), but that unfence is not persisted: unfence()
// says to persist after it, "the record carries the due unfence, so a
// successor retries one whose result died with this leader". The record
// still says no unfence is due (the rejoin's unfence succeeded, and its
// result cleared it). The leader dies before the new unfence's result; the
// successor finds nothing due and cmp1 runs blocklisted until its entries
// expire (the renewal just set their expiry anew), its guests' writes
// failing, while the alert said vigil lifts them.
func TestAttack11RenewalAfterRejoinUnfenceNotPersisted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newE := func(recs []Record, at time.Time, token uint64) *Engine {
		e, err := New(autoRejoin())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
			e.AddHost(HostInfo{Name: h})
		}
		e.Restore(recs)
		e.Step(at, Leadership{Leader: true, Token: token})
		return e
	}
	store := map[string]Record{}
	e := newE(nil, t0, 1)
	renewing, unfences, renewed, answered := false, 0, false, 0
	for at := time.Duration(0); at < 30*time.Minute; at += 500 * time.Millisecond {
		now := t0.Add(at)
		if renewed && at == 14*time.Minute+5*time.Second {
			// The leader dies with that unfence unanswered.
			if answered == 0 {
				t.Fatalf("setup: no unfence answered the renewal that outlived the rejoin (status %+v)", e.Status()[0])
			}
			var recs []Record
			for _, r := range store {
				recs = append(recs, r)
			}
			e, unfences = newE(recs, now, 2), 0
		}
		back := at > 11*time.Minute
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			if hn == "cmp1" && at > 15*time.Second && !back {
				continue
			}
			for _, net := range []string{"mgmt", "storage"} {
				e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": 1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		if at <= 15*time.Second {
			e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		} else {
			e.Step(now, NovaService{Host: "cmp1", Up: back, ForcedDown: true})
			e.Step(now, NovaService{Host: "cmp2", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		}
		if renewing && at == 14*time.Minute && unfences > 0 {
			e.Step(now, RenewResult{Host: "cmp1", OK: true, Lapsed: true, Err: "no entry for 10.0.1.1: added"})
			renewing, renewed = false, true
		}
		rd := e.Tick(now)
		for _, r := range rd.Records {
			store[r.Host] = r
		}
		if len(rd.Records) > 0 {
			e.Step(now, Persisted{Ready: rd.Seq})
		}
		for _, a := range rd.Actions {
			switch a.Kind {
			case ActFence:
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ceph-blocklist", Proof: "blocklisted"})
			case ActEvacuate:
				for _, in := range a.Instances {
					e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
				}
			case ActRenewFence:
				renewing = true // slow: its result comes at +14m
			case ActUnfence:
				unfences++
				if renewed && at < 14*time.Minute+5*time.Second {
					answered++
				}
				if !renewed {
					e.Step(now, UnfenceResult{Host: a.Host, OK: true})
				}
			}
		}
		if renewed && at > 14*time.Minute+5*time.Second && unfences > 0 {
			return // the successor lifts the entries again
		}
	}
	if !renewed {
		t.Fatalf("setup: the renewal did not outlive the rejoin (status %+v)", e.Status()[0])
	}
	t.Fatalf("STORAGE CUT, NOBODY TOLD: the renewal in flight at cmp1's rejoin added its entries again; the leader answered with an unfence it did not persist (record %+v) and died; the successor never unfenced cmp1 in 16 minutes", store["cmp1"])
}
