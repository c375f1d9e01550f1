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
			nets := s.links(f.Cut)
			add(at, func() { cut(w, h, nets, true) })
			if dur > 0 {
				add(at+dur, func() { cut(w, h, nets, false) })
			}
		case f.Flap != "":
			nets, half := s.links(f.Flap), time.Duration(f.Period)/2
			for i := 0; i < f.Count; i++ {
				start := at + time.Duration(i)*time.Duration(f.Period)
				add(start, func() { cut(w, h, nets, true) })
				add(start+half, func() { cut(w, h, nets, false) })
			}
		case f.Partition != "":
			harmful(at)
			net, groups := f.Partition, f.Groups
			add(at, func() { w.Partition(net, groups) })
			if dur > 0 {
				add(at+dur, func() { w.Partition(net, nil) })
			}
		case f.BMC == "slow" || f.BMC == "late":
			set := w.SlowBMC
			if f.BMC == "late" {
				set = w.LateBMC
			}
			delay := time.Duration(f.Delay)
			add(at, func() { set(h, delay) })
			if dur > 0 {
				add(at+dur, func() { set(h, 0) })
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
			hang := w.Hang
			if f.Hang == "userspace" {
				hang = w.HangUserspace
			}
			add(at, func() { hang(h, true) })
			if dur > 0 {
				add(at+dur, func() { hang(h, false) })
			}
		case f.Watchdog == "config":
			add(at, func() { w.SetAgentWatchdogTimeout(h, time.Duration(f.Delay)) })
		case f.Watchdog == "isolation":
			add(at, func() { w.SetAgentIsolationTimeout(h, time.Duration(f.Delay)) })
		case f.Watchdog == "long":
			add(at, func() { w.SetWatchdogLong(h, true) })
			if dur > 0 {
				add(at+dur, func() { w.SetWatchdogLong(h, false) })
			}
		case f.Watchdog != "":
			missing := f.Watchdog == "missing"
			add(at, func() { w.SetWatchdogMissing(h, missing); w.SetWatchdogLong(h, false) })
			if dur > 0 {
				add(at+dur, func() { w.SetWatchdogMissing(h, !missing) })
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
		case f.Rejoin != "":
			name := f.Rejoin
			add(at, func() { c.Rejoin(name) })
		case f.Instance != "":
			id, dest := f.VM, f.Host
			switch f.Instance {
			case "shutoff":
				add(at, func() { w.StopInstance(id) })
			case "error":
				add(at, func() { w.ErrorInstance(id) })
			default:
				task := sim.TaskState(f.Instance)
				add(at, func() { w.SetTask(id, task, dest) })
				if dur > 0 {
					add(at+dur, func() { w.ClearTask(id) })
				}
			}
		case f.Rebuild != "":
			name := f.Host
			add(at, func() { w.FailRebuilds(name, true) })
			if dur > 0 {
				add(at+dur, func() { w.FailRebuilds(name, false) })
			}
		case f.Release != "":
			name := f.Release
			add(at, func() { c.Release(name) })
		case f.Pause != "":
			add(at, func() { c.Pause(f.Pause == "on") })
			if f.Pause == "on" && dur > 0 {
				add(at+dur, func() { c.Pause(false) })
			}
		}
	}
	sort.SliceStable(sc.events, func(i, j int) bool { return sc.events[i].at < sc.events[j].at })
	return sc
}

// bond names every network of a host at once: they share one bonded link.
const bond = "bond"

// links is the networks a cut or flap takes down: one, or all for bond.
func (s *Scenario) links(net string) []string {
	if net == bond {
		return s.Networks()
	}
	return []string{net}
}

func cut(w *sim.World, h *sim.Host, nets []string, down bool) {
	for _, n := range nets {
		w.Cut(h, n, down)
	}
}

// apply runs every event due at now.
func (sc *schedule) apply(now time.Duration) {
	for len(sc.events) > 0 && sc.events[0].at <= now {
		e := sc.events[0]
		sc.events = sc.events[1:]
		e.do()
	}
}
