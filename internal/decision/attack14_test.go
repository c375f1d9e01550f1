package decision

import (
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
// host.moved() counts an instance as moved when it is done, maybe sent, or
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
