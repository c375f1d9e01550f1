package decision

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// Fourteenth adversarial review (attack14), against 02631e4 (the fixes of
// 2d750ef and 34de5e5). Each test fails on the code it was written
// against. The harness is attack13's (a13).

// a14report steps one agent report on both networks, nova-compute running
// or not.
func a14report(e *Engine, now time.Time, hn, boot string, nova bool, domains ...string) {
	for _, net := range []string{"mgmt", "storage"} {
		e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: boot, NovaCompute: Process{Running: nova}, Libvirtd: Process{Running: true}, Domains: domains}})
	}
}

// Finding 1 (safety, two writers; attack13 B again, through a Nova quirk):
// host.anyMoved() counts an instance as moved when it is done, maybe sent, or
// no longer listed on the host by a Nova read taken after the incident
// opened. An evacuation Nova has accepted but not yet scheduled is none of
// these: Nova's API sets task_state rebuilding (status REBUILD) and leaves
// instance.host on the source until the destination's nova-compute claims
// it (conductor, scheduler and the destination are cast to over RabbitMQ;
// a backlog, or nova-conductor down, holds it there for minutes). The
// predecessor that sent it died before its result (evacWait is still not
// persisted: the attack13 fix chose Nova's placement instead), so the
// successor has nothing but Nova's read, which lists i1 on cmp1, REBUILD.
//
// cmp1's BMC lies (acknowledges power off, does nothing): of its
// ipmi+ceph-blocklist fence only the blocklist holds. cmp1 hangs at +15 s;
// it is fenced, i1's evacuation goes out, and the leader dies before any
// result. Nova accepts it (REBUILD, still on cmp1). The hang clears as the
// successor takes over: its first tick finds the fence undone (the agent
// answers after a power fence) and goes to rejoining. cmp1's nova-compute
// does not run (it died in the hang), so the rejoin waits
// (rejoin-blocked). cmp1 then stalls in userspace: after dead_after the
// successor fences it again (rejoin-silent); the probe answers, the round
// is aborted, moved() says no, the incident is closed and the unfence goes
// out Unmoved, which lifts the blocklist with no evidence of a reset. cmp1
// still runs its i1; when Nova's rebuild goes on, i1 starts on cmp2 next to
// it.
//
// Fix: count as maybe sent (moved(), rejoinStalled's held, rejoin) an
// instance Nova shows in a task (REBUILD, or any task_state) on the host,
// and persist evacuations in flight (evacWait) in Record.Moving as attack13
// suggested: a successor must assume a call that was out reached Nova.
func TestAttack14UnmovedUnfenceWhileNovaRebuildsOnTheSource(t *testing.T) {
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
			a14report(e, now, "cmp1", "b", at <= 15*time.Second, "i1") // nova-compute died in the hang
		}
		a13report(e, now, "cmp2", "b")
		a13report(e, now, "cmp3", "b")
		c := map[string]uint64{"cmp1": 1, "cmp2": uint64(at), "cmp3": uint64(at)}
		if at <= 15*time.Second {
			c["cmp1"] = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: c})
		st := NovaActive
		if evacAt >= 0 && at >= evacAt+5*time.Second {
			st = "REBUILD" // accepted; not scheduled yet: still on cmp1
		}
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: evacAt >= 0, Instances: []string{"i1"}, Status: map[string]string{"i1": st}})
		e.Step(now, NovaService{Host: "cmp2", Up: true})
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
		switch a.Kind {
		case ActFence:
			if evacAt < 0 {
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi+ceph-blocklist", Proof: "chassis power read back off; entries listed"})
				return
			}
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
	l2At = evacAt + 10*time.Second
	stallAt = l2At + 40*time.Second
	s := x.lead(l2At, 2)
	x.run(s, 2, l2At, l2At+3*time.Minute)
	rejoining, refenced := false, false
	for _, o := range x.out {
		if o.term != 2 || o.a.Host != "cmp1" {
			continue
		}
		if o.a.Kind == ActAlert && o.a.Code == "rejoin-blocked" {
			rejoining = true
		}
		if o.a.Kind == ActFence {
			refenced = true
		}
		if o.a.Kind == ActUnfence && o.a.Unmoved {
			if !rejoining || !refenced {
				t.Fatalf("setup: the successor unfenced cmp1 before it saw it back (%v) and fenced it again (%v): %s", rejoining, refenced, o.a)
			}
			t.Fatalf("TWO WRITERS: Nova accepted i1's evacuation (REBUILD) and cmp1 still runs i1, never reset (its BMC lies), yet at +%v the successor lifted cmp1's blocklist Unmoved (rule %s): %s", o.at, o.a.Rule, o.a.Reason)
		}
	}
	if !rejoining || !refenced {
		t.Fatalf("setup: want the successor to see cmp1 back (rejoin-blocked %v) and fence it again (%v); status %+v", rejoining, refenced, s.Status()[0])
	}
}

// Finding 2 (safety, two writers after a failover; the attack13 A fix):
// Record.CopyElsewhere keeps one holder per instance, the first host
// copyElsewhere's loop finds over the engine's host map, in Go's random
// map order; the leader's hold rests on every host seen with the copy.
// When two are, the record names either (it is rewritten each time the
// pick changes: a store write per tick, too), and a successor holds the
// instance only for the one it names.
//
// i2 live-migrated from cmp1 to cmp2 and switched over (Nova still places
// it on cmp1); cmp3, where i2 ran before it came to cmp1, still showed a
// watch on its disk when the first leader started (a dead client's watch
// lingers ~30 s), and later its libvirtd hangs (GuestsUnknown): to
// seenWith, cmp3 may run i2 too. cmp1 dies at +15 s, is fenced (ipmi), i1
// moves, i2 is held. At +60 s cmp2 hangs (kernel stall: no report, no
// heartbeat, its watch gone 30 s later); its fence fails (BMC unreachable).
// The first leader holds i2 for good: cmp2's last word named it. It fails
// over at a moment its record names cmp3. The successor hears nothing of
// cmp2; once cmp3's libvirtd answers again (a known guest list without
// i2) it drops the hold and evacuates i2 from cmp1. When cmp2's stall
// clears, its copy of i2 resumes writing next to the evacuated one.
//
// Fix: persist every holder (CopyElsewhere: instance → hosts) and hold
// until each is fenced or has said it runs none; or, failing a holder the
// successor can check, hold until every host not fenced has given this
// leader a known guest list (attack13's fallback).
func TestAttack14SuccessorKeepsOnlyOneOfTwoHoldersOfACopy(t *testing.T) {
	x := newA13(t, DefaultConfig())
	var evacuated []string
	var l2At time.Duration = -1
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		if at <= 15*time.Second {
			a13report(e, now, "cmp1", "b", "i1")
		}
		if at <= 60*time.Second {
			a13report(e, now, "cmp2", "b", "i2")
		}
		if at >= 30*time.Second && (l2At < 0 || at < l2At+30*time.Second) {
			for _, net := range []string{"mgmt", "storage"} {
				e.Step(now, AgentReport{Host: "cmp3", Network: net, Self: SelfReport{BootID: "b", NovaCompute: Process{Running: true}, GuestsUnknown: true}})
			}
		} else {
			a13report(e, now, "cmp3", "b")
		}
		c := map[string]uint64{"cmp1": 1, "cmp2": 1, "cmp3": uint64(at)}
		if at <= 15*time.Second {
			c["cmp1"] = uint64(at)
		}
		if at <= 60*time.Second {
			c["cmp2"] = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: c})
		var w []string
		if at <= 90*time.Second {
			w = append(w, "cmp2")
		}
		if at <= 5*time.Second {
			w = append(w, "cmp3") // the lingering watch of i2's old client there
		}
		e.Step(now, DiskWriters{Instance: "i2", Hosts: w})
		cmp1 := []string{"i1", "i2"}
		if slices.Contains(evacuated, "i1") {
			cmp1 = []string{"i2"}
		}
		if slices.Contains(evacuated, "i2") {
			cmp1 = slices.DeleteFunc(cmp1, func(s string) bool { return s == "i2" })
		}
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: at > 20*time.Second, Instances: cmp1, Status: map[string]string{"i1": NovaActive, "i2": NovaActive}})
		e.Step(now, NovaService{Host: "cmp2", Up: at <= 60*time.Second})
		e.Step(now, NovaService{Host: "cmp3", Up: true})
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
	at := time.Duration(0)
	x.run(e, 1, at, 2*time.Minute)
	// The failover comes at a moment the record names cmp3 (each tick's
	// pick is Go's map order: a few ticks at most).
	for at = 2 * time.Minute; at < 3*time.Minute && !slices.Contains(x.store["cmp1"].CopyElsewhere["i2"], "cmp3"); at += 500 * time.Millisecond {
		x.run(e, 1, at, at+500*time.Millisecond)
	}
	if !slices.Equal(evacuated, []string{"i1"}) || x.store["cmp1"].Phase != Recovering || !slices.Contains(x.store["cmp1"].CopyElsewhere["i2"], "cmp3") {
		t.Fatalf("setup: the first leader should have moved i1 and held i2, its record naming cmp3: evacuated %v, record %+v", evacuated, x.store["cmp1"])
	}
	if r := x.store["cmp2"]; r.Fence != nil || r.Failed.IsZero() {
		t.Fatalf("setup: cmp2 should be failed and not fenced: %+v", r)
	}
	l2At = at + 3*time.Second
	s := x.lead(l2At, 2)
	x.run(s, 2, l2At, l2At+3*time.Minute)
	for _, o := range x.out {
		if o.term == 2 && o.a.Kind == ActEvacuate && slices.Contains(o.a.Instances, "i2") {
			t.Fatalf("TWO WRITERS: the successor evacuated i2 from cmp1 at +%v, while cmp2, whose last word to the first leader was that it runs i2, is hung and not fenced: the record named only cmp3 (%s)", o.at, o.a)
		}
	}
}

// Finding 3 (liveness: a host left blocklisted, nothing moved; the
// attack13 D fix): renewResult with no incident lifts the entries a
// renewal in flight put back with an unfence that is never Unmoved, and
// unfence ANDs it into the lift due: the lift now needs evidence of a
// reset. When the incident closed as an aborted fence round with nothing
// moved (its own lift Unmoved: the host was never reset), no such
// evidence ever comes: the device refuses (fence.ErrNoResetEvidence: the
// boot id is the one recorded at fence time) and vigil retries for good,
// the host running with guests that cannot write.
//
// cmp1's BMC lies; its ipmi+ceph-blocklist fence at ~+20 s only
// blocklists it. i1's evacuation is refused (no valid host: nothing
// moved). cmp1 answers again 2 s later, so the fence is undone and it is
// rejoining; nova-compute does not run there, so the rejoin waits. A renewal goes
// out at +1m20 s and is slow (monitor election). cmp1 stalls in
// userspace: vigil fences it again (rejoin-silent), the probe answers, the
// round is aborted with nothing moved, the incident closes and its lift
// goes out Unmoved. The renewal then re-adds the entries and reports; its
// lift goes out needing a reset cmp1 never had.
//
// Fix: a renewal's lift after the incident closed takes the closing
// lift's Unmoved (remember it with the records: the incident that put
// them on moved nothing), rather than false.
func TestAttack14RenewalAfterAnUnmovedCloseNeedsAReset(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FenceRenew = time.Minute
	x := newA13(t, cfg)
	rec := json.RawMessage(`{"driver":"ceph-blocklist","blocklist":{"entries":[{"addr":"10.0.2.1:0/0","ours":true}],"boot_id":"b"}}`)
	var fencedAt, stallAt, closedAt time.Duration = -1, -1, -1
	var pendingRenew *Action
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		silent := at > 15*time.Second && (fencedAt < 0 || at < fencedAt+2*time.Second) || stallAt >= 0 && at >= stallAt && closedAt < 0
		if !silent {
			a14report(e, now, "cmp1", "b", at <= 15*time.Second, "i1")
		}
		a13report(e, now, "cmp2", "b")
		a13report(e, now, "cmp3", "b")
		c1 := uint64(1)
		if !silent {
			c1 = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 15*time.Second, ForcedDown: fencedAt >= 0, Instances: []string{"i1"}, Status: map[string]string{"i1": NovaActive}})
		if fencedAt >= 0 && stallAt < 0 && at >= 75*time.Second {
			stallAt = at
		}
		if closedAt >= 0 && pendingRenew != nil && at >= closedAt+2*time.Second {
			e.Step(now, RenewResult{Host: "cmp1", OK: true, Records: pendingRenew.Records}) // re-added what the lift removed
			pendingRenew = nil
		}
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
		switch a.Kind {
		case ActFence:
			if fencedAt < 0 {
				fencedAt = at
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: "ipmi+ceph-blocklist", Proof: "chassis power read back off; entries listed", Records: []json.RawMessage{rec}})
				return
			}
			e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Method: "ipmi+ceph-blocklist", Aborted: AbortHostAnswers, Err: "ping on the storage network, right before the power-off"})
		case ActEvacuate:
			for _, in := range a.Instances {
				e.Step(now, EvacuateResult{Host: a.Host, Instance: in, Err: "No valid host was found"}) // refused: nothing moved
			}
		case ActRenewFence:
			if pendingRenew == nil {
				a := a
				pendingRenew = &a
			}
		case ActUnfence:
			if closedAt < 0 {
				closedAt = at
			}
			e.Step(now, UnfenceResult{Host: a.Host, OK: true})
		}
	}
	e := x.lead(0, 1)
	x.run(e, 1, 0, 4*time.Minute)
	var lifts []a13act
	for _, o := range x.out {
		if o.a.Host == "cmp1" && o.a.Kind == ActUnfence {
			lifts = append(lifts, o)
		}
	}
	if len(lifts) < 2 || !lifts[0].a.Unmoved || lifts[0].a.Rule != "fence-aborted" {
		t.Fatalf("setup: want the aborted round's Unmoved lift, then the renewal's: %v (status %+v)", lifts, e.Status()[0])
	}
	for _, o := range lifts[1:] {
		if !o.a.Unmoved {
			t.Fatalf("LEFT BLOCKLISTED: nothing of cmp1 ever moved and it was never reset, but the lift of what a renewal in flight re-added (+%v, rule %s) needs evidence of a reset, which cmp1 (same boot) never gives: the device refuses it for good", o.at, o.a.Rule)
		}
	}
}

// Finding 4 (safety, two writers; the 34de5e5 fix): seenWith's disk-watch
// branch counts only a run of watch reads that began after the host's last
// agent report. A guest the host's agent does not list, whose disk watch
// was there before that report, never counts, however long it goes on:
// the rule tells a dead process's lingering watch (gone within ~30 s of
// its death, which came before the report that did not list it) from a
// live writer by nothing. Before the fix the same schedule held the
// instance (the watch was read after the last report).
//
// i2 live-migrated from cmp1 to cmp2 and switched over (Nova still places
// it on cmp1), and cmp2's libvirtd has lost track of its qemu (its state
// under /run/libvirt went with a container recreate): the agent's known
// guest list never names i2, while the disk watch shows cmp2 on its disk,
// on and on. cmp2's agent crashes at +10 s (its peers still reach it:
// alive, not fenced). cmp1 dies at +20 s and is fenced; the watch has shown
// cmp2 on i2's disk for a minute, 10 s past cmp2's last report: vigil
// evacuates i2, and cmp2's qemu writes next to the new copy.
//
// Fix: a watch run that goes on longer than a watch lingers (writerGap's
// ~30 s) past the first report that did not list the guest is a live
// writer, not a dead process's: count it (seen while it lasts, and after,
// until a fence or a later known list taken once the watch is gone).
func TestAttack14UnlistedWriterWhoseWatchPredatesTheLastReport(t *testing.T) {
	x := newA13(t, DefaultConfig())
	var evacuated []string
	x.world = func(at time.Duration, e *Engine) {
		now := a13t0.Add(at)
		if at <= 20*time.Second {
			a13report(e, now, "cmp1", "b", "i1")
		}
		if at <= 10*time.Second {
			a13report(e, now, "cmp2", "b") // libvirtd lists none of its guests: it lost track of i2's qemu
		} else {
			for _, net := range []string{"mgmt", "storage"} {
				e.Step(now, PeerReport{Observer: "cmp3", Host: "cmp2", Network: net, Reachable: true})
			}
		}
		a13report(e, now, "cmp3", "b")
		c := map[string]uint64{"cmp1": 1, "cmp2": 1, "cmp3": uint64(at)}
		if at <= 20*time.Second {
			c["cmp1"] = uint64(at)
		}
		if at <= 10*time.Second {
			c["cmp2"] = uint64(at)
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: c})
		if at%(5*time.Second) == 0 {
			e.Step(now, DiskWriters{Instance: "i2", Hosts: []string{"cmp2"}}) // cmp2's qemu, live
		}
		cmp1 := []string{"i1", "i2"}
		for _, in := range evacuated {
			cmp1 = slices.DeleteFunc(cmp1, func(s string) bool { return s == in })
		}
		e.Step(now, NovaService{Host: "cmp1", Up: at <= 20*time.Second, ForcedDown: at > 25*time.Second, Instances: cmp1, Status: map[string]string{"i1": NovaActive, "i2": NovaActive}})
		e.Step(now, NovaService{Host: "cmp2", Up: true})
		e.Step(now, NovaService{Host: "cmp3", Up: true})
	}
	x.act = func(at time.Duration, e *Engine, a Action) {
		now := a13t0.Add(at)
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
	e := x.lead(0, 1)
	x.run(e, 1, 0, 2*time.Minute)
	if !slices.Contains(evacuated, "i1") {
		t.Fatalf("setup: cmp1 should have been fenced and i1 moved: evacuated %v, status %+v", evacuated, e.Status())
	}
	for _, o := range x.out {
		if o.a.Host == "cmp2" && (o.a.Kind == ActFence || o.a.Kind == ActEvacuate) {
			t.Fatalf("setup: cmp2 is alive (its peers reach it) and must not be fenced: %s", o.a)
		}
		if o.a.Kind == ActEvacuate && slices.Contains(o.a.Instances, "i2") {
			t.Fatalf("TWO WRITERS: at +%v vigil evacuated i2 from fenced cmp1 while the disk watch has shown cmp2, alive and not fenced, on i2's disk without a break since the start, long after any dead process's watch would have gone (its run began before cmp2's last report, whose list did not name it): %s", o.at, o.a)
		}
	}
}
