package scenario

import (
	"sort"
	"time"

	"github.com/vigil-ha/vigil/internal/sim"
)

type event struct {
	at time.Duration
	do func()
}

// schedule is a scenario's faults as timed world changes.
type schedule struct {
	events []event
	first  time.Duration // first fault that can take instances down; -1 none
}

func (s *Scenario) schedule(w *sim.World, c *sim.Controller) *schedule {
	sc := &schedule{first: -1}
	add := func(at time.Duration, do func()) {
		at = at.Round(sim.Step)
		sc.events = append(sc.events, event{at, do})
	}
	harmful := func(at time.Duration) {
		if sc.first < 0 || at < sc.first {
			sc.first = at.Round(sim.Step)
		}
	}
	for _, f := range s.Faults {
		at, dur := time.Duration(f.At), time.Duration(f.For)
		h := w.Host(f.Host)
		switch {
		case f.Stop != "":
			p := sim.Proc(f.Stop)
			add(at, func() { w.StopProc(h, p) })
			if dur > 0 {
				add(at+dur, func() { w.StartProc(h, p) })
			}
		case f.Crash != "":
			p := sim.Proc(f.Crash)
			add(at, func() { w.CrashProc(h, p) })
			if dur > 0 {
				add(at+dur, func() { w.StartProc(h, p) })
			}
		case f.Stall != "":
			add(at, func() { c.StallLeader(dur) })
		case f.Isolate != "":
			add(at, c.ZombieLeader)
		case f.Power == "off":
			harmful(at)
			add(at, func() { w.PowerOff(h, "scenario: power loss") })
			if dur > 0 {
				add(at+dur, func() { w.PowerOn(h, "scenario: power restored") })
			}
		case f.Power == "on":
			add(at, func() { w.PowerOn(h, "scenario: operator powers it on") })
		case f.Cut != "":
			harmful(at)
			net := f.Cut
			add(at, func() { w.Cut(h, net, true) })
			if dur > 0 {
				add(at+dur, func() { w.Cut(h, net, false) })
			}
		case f.Flap != "":
			net, half := f.Flap, time.Duration(f.Period)/2
			for i := 0; i < f.Count; i++ {
				start := at + time.Duration(i)*time.Duration(f.Period)
				add(start, func() { w.Cut(h, net, true) })
				add(start+half, func() { w.Cut(h, net, false) })
			}
		case f.Partition != "":
			harmful(at)
			net, groups := f.Partition, f.Groups
			add(at, func() { w.Partition(net, groups) })
			if dur > 0 {
				add(at+dur, func() { w.Partition(net, nil) })
			}
		case f.BMC == "lies":
			add(at, func() { w.LyingBMC(h) })
			if dur > 0 {
				add(at+dur, func() { w.SetBMC(h, true) })
			}
		case f.BMC != "":
			reachable := f.BMC == "reachable"
			add(at, func() { w.SetBMC(h, reachable) })
			if dur > 0 {
				add(at+dur, func() { w.SetBMC(h, !reachable) })
			}
		case f.Hang != "":
			harmful(at)
			add(at, func() { w.Hang(h, true) })
			if dur > 0 {
				add(at+dur, func() { w.Hang(h, false) })
			}
		case f.Storage != "":
			up := f.Storage == "reachable"
			add(at, func() { w.SetStorage(up) })
			if dur > 0 {
				add(at+dur, func() { w.SetStorage(!up) })
			}
		case f.Blocklist != "":
			add(at, func() { w.ExpireBlocklist(h) })
		case f.Kill != "":
			add(at, c.KillLeader)
		case f.Maintenance != "":
			on, name := f.Maintenance == "on", f.Host
			add(at, func() { c.SetMaintenance(name, on) })
		case f.Confirm != "":
			name := f.Confirm
			add(at, func() { c.Confirm(name) })
		case f.Release != "":
			name := f.Release
			add(at, func() { c.Release(name) })
		}
	}
	sort.SliceStable(sc.events, func(i, j int) bool { return sc.events[i].at < sc.events[j].at })
	return sc
}

// apply runs every event due at now.
func (sc *schedule) apply(now time.Duration) {
	for len(sc.events) > 0 && sc.events[0].at <= now {
		e := sc.events[0]
		sc.events = sc.events[1:]
		e.do()
	}
}
