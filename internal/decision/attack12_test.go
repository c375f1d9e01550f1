package decision

import (
	"slices"
	"testing"
	"time"
)

// Twelfth adversarial review (attack12), against 4564fc6. Each test fails
// on the code it was written against.

var a12t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// a12 drives an engine over cmp1..cmp3 (no watchdog) like the controller
// loop does: a Ready whose write fail(rd) says failed is stepped back as
// Unwritten (its alerts alone carried out), any other is persisted and its
// actions carried out (fences verified by ipmi, evacuations and unfences
// done at once). cmp1 runs i1 and dies at +15 s; it comes back from boot b2
// (no guest) at back, 0 for never.
type a12 struct {
	t    *testing.T
	e    *Engine
	back time.Duration
	// out: the actions carried out, with when (since a12t0).
	out  []a12act
	fail func(at time.Duration, rd Ready) bool
}

type a12act struct {
	at time.Duration
	a  Action
}

func newA12(t *testing.T, back time.Duration) *a12 {
	e, err := New(autoRejoin())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(HostInfo{Name: h})
	}
	e.Step(a12t0, Leadership{Leader: true, Token: 1})
	return &a12{t: t, e: e, back: back, fail: func(time.Duration, Ready) bool { return false }}
}

func (x *a12) run(from, to time.Duration, before func(at time.Duration)) {
	for at := from; at < to; at += 500 * time.Millisecond {
		now := a12t0.Add(at)
		if before != nil {
			before(at)
		}
		back := x.back > 0 && at >= x.back
		alive := at <= 15*time.Second || back
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			boot := "b"
			if hn == "cmp1" {
				if !alive {
					continue
				}
				if back {
					boot = "b2"
				}
			}
			for _, net := range []string{"mgmt", "storage"} {
				x.e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: boot, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
		}
		c1 := uint64(1)
		if alive {
			c1 = uint64(at)
		}
		x.e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		if at <= 15*time.Second {
			x.e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		} else {
			x.e.Step(now, NovaService{Host: "cmp1", Up: back, ForcedDown: true})
			x.e.Step(now, NovaService{Host: "cmp2", Up: true, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		}
		rd := x.e.Tick(now)
		if x.fail(at, rd) {
			var undone []Action
			var hosts []string
			for _, a := range rd.Actions {
				if a.Kind == ActAlert {
					x.out = append(x.out, a12act{at, a})
				} else {
					undone = append(undone, a)
				}
			}
			for _, r := range rd.Records {
				hosts = append(hosts, r.Host)
			}
			x.e.Step(now, Unwritten{Ready: rd.Seq, Actions: undone, Hosts: hosts})
			continue
		}
		if len(rd.Records) > 0 {
			x.e.Step(now, Persisted{Ready: rd.Seq})
		}
		for _, a := range rd.Actions {
			x.out = append(x.out, a12act{at, a})
			switch a.Kind {
			case ActFence:
				x.e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "chassis power read back off"})
			case ActEvacuate:
				for _, in := range a.Instances {
					x.e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
				}
			case ActUnfence:
				x.e.Step(now, UnfenceResult{Host: a.Host, OK: true})
			}
		}
	}
}

// Finding P3 (an action on a host in maintenance): Unwritten sends a
// re-enable (and a force-down) of a failed write again at once, into the
// pending Ready, between Ticks. maintenance.go relies on "nothing decided
// for h can be waiting in e.out: maintenance is read at h's own turn in
// Tick, and between Ticks only alerts are decided"; that no longer holds.
// cmp1 died, was fenced and its i1 evacuated; it comes back and rejoins
// cleanly: the Ready with its unfence and re-enable fails to write, and
// Unwritten puts the re-enable back in the pending Ready. An operator puts
// cmp1 in maintenance before the next Tick (it rebooted on its own: she
// wants to look at it). The next Ready re-enables nova-compute on cmp1,
// which she owns: Nova schedules new instances onto a host in maintenance.
// (The unfence, retried by unfenceDue, rightly waits for maintenance to
// end.) Unwritten should only mark them due, and Tick emit them at the
// host's turn, past its maintenance check.
func TestAttack12ReEnableOfAFailedWriteSentInMaintenance(t *testing.T) {
	x := newA12(t, 90*time.Second)
	failed := time.Duration(-1)
	x.fail = func(at time.Duration, rd Ready) bool {
		for _, a := range rd.Actions {
			if a.Kind == ActReEnable && failed < 0 {
				failed = at
				return true
			}
		}
		return false
	}
	var inMaint time.Duration = -1
	x.run(0, 5*time.Minute, func(at time.Duration) {
		if failed >= 0 && inMaint < 0 {
			inMaint = at
			x.e.Step(a12t0.Add(at), SetMaintenance{Host: "cmp1", On: true})
		}
	})
	if failed < 0 {
		t.Fatalf("setup: cmp1 never rejoined (status %+v)", x.e.Status()[0])
	}
	for _, o := range x.out {
		if o.a.Host == "cmp1" && o.a.Kind != ActAlert && o.at >= inMaint {
			t.Fatalf("ACTION ON A HOST IN MAINTENANCE: cmp1 went into maintenance at +%v, after the failed write (+%v) of its rejoin, and vigil still sent %s at +%v", inMaint, failed, o.a.Kind, o.at)
		}
	}
}

// Finding P3, the force-down: the same for a force-down of a failed write
// (Unwritten re-emits it "sent again now: the incident may be past the
// step that sends it"). cmp1 is fenced and recovering when the Ready with
// its force-down and evacuation fails; the operator puts it in maintenance
// right after; the next Ready force-downs it in Nova.
func TestAttack12ForceDownOfAFailedWriteSentInMaintenance(t *testing.T) {
	x := newA12(t, 0)
	failed := time.Duration(-1)
	x.fail = func(at time.Duration, rd Ready) bool {
		for _, a := range rd.Actions {
			if a.Kind == ActForceDown && failed < 0 {
				failed = at
				return true
			}
		}
		return false
	}
	var inMaint time.Duration = -1
	x.run(0, 3*time.Minute, func(at time.Duration) {
		if failed >= 0 && inMaint < 0 {
			inMaint = at
			x.e.Step(a12t0.Add(at), SetMaintenance{Host: "cmp1", On: true})
		}
	})
	if failed < 0 {
		t.Fatalf("setup: cmp1 was never force-downed (status %+v)", x.e.Status()[0])
	}
	for _, o := range x.out {
		if o.a.Host == "cmp1" && o.a.Kind != ActAlert && o.at >= inMaint {
			t.Fatalf("ACTION ON A HOST IN MAINTENANCE: cmp1 went into maintenance at +%v, after the failed write (+%v) of its force-down, and vigil still sent %s at +%v", inMaint, failed, o.a.Kind, o.at)
		}
	}
}

// Finding P5 (safety, two writers after a failover): a new leader has
// heard no host yet, and evacuate-copy-elsewhere looks for fresh evidence
// only: the restored incident evacuates at its first Nova read an instance
// its predecessor kept where it runs. restartRefused waits restartSettle
// agent timeouts after an election for exactly this ("a new leader has not
// heard every host that may run the guest yet"); recover and
// retryEvacuations do not. i2 live-migrated from cmp1 to cmp2 and switched
// over (Nova still places it on cmp1, its task state since reset); cmp1
// died and was fenced; the leader kept i2 (evacuate-copy-elsewhere) and
// moved i1. The leader fails over; the successor restores the incident
// (Recovering, fence on record), and Nova's poll of cmp1 comes in before
// cmp2's agent report (or the next RBD watcher read) does: i2 is evacuated
// next to its running copy on cmp2.
func TestAttack12SuccessorEvacuatesACopyElsewhereBeforeHearingIt(t *testing.T) {
	cfg := DefaultConfig()
	newE := func(recs []Record, at time.Time, token uint64) *Engine {
		e, err := New(cfg)
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
	e := newE(nil, a12t0, 1)
	report := func(e *Engine, now time.Time, hn string, domains ...string) {
		for _, net := range []string{"mgmt", "storage"} {
			e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Domains: domains}})
		}
	}
	var evacuated []string
	for at := time.Duration(0); at < 2*time.Minute; at += 500 * time.Millisecond {
		now := a12t0.Add(at)
		if at <= 15*time.Second {
			report(e, now, "cmp1", "i1")
		}
		report(e, now, "cmp2", "i2")
		report(e, now, "cmp3")
		c1 := uint64(1)
		if at <= 15*time.Second {
			c1 = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		e.Step(now, DiskWriters{Instance: "i2", Hosts: []string{"cmp2"}})
		cmp1 := []string{"i1", "i2"}
		if slices.Contains(evacuated, "i1") {
			cmp1 = []string{"i2"}
		}
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: at > 20*time.Second, Instances: cmp1, Status: map[string]string{"i1": NovaActive, "i2": NovaActive}})
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
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi", Proof: "chassis power read back off"})
			case ActEvacuate:
				for _, in := range a.Instances {
					evacuated = append(evacuated, in)
					e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true})
				}
			}
		}
	}
	if !slices.Equal(evacuated, []string{"i1"}) || store["cmp1"].Phase != Recovering {
		t.Fatalf("setup: the leader should have moved i1 and kept i2 with its copy on cmp2: evacuated %v, record %+v", evacuated, store["cmp1"])
	}
	// Failover: the successor's first input is Nova's poll of cmp1.
	var recs []Record
	for _, r := range store {
		recs = append(recs, r)
	}
	now := a12t0.Add(2*time.Minute + 3*time.Second)
	s := newE(recs, now, 2)
	s.Step(now, NovaService{Host: "cmp1", Up: false, ForcedDown: true, Instances: []string{"i2"}, Status: map[string]string{"i2": NovaActive}})
	rd := s.Tick(now)
	for _, a := range rd.Actions {
		if a.Kind == ActEvacuate && slices.Contains(a.Instances, "i2") {
			t.Fatalf("TWO WRITERS: the successor evacuated i2 from fenced cmp1 at its first tick, before hearing cmp2, which runs it and writes its disk (its predecessor kept it: evacuate-copy-elsewhere): %s", a)
		}
	}
}
