package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/sim"
)

// check compares the outcome with the scenario's expectations.
func (r *Result) check() {
	e := r.Scenario.Expect
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if r.Policy == PolicyVigil {
		r.Violations = append(slices.Clip(r.Violations), r.heldForever()...)
		r.Violations = append(r.Violations, r.orphanedFences()...)
		for _, v := range r.Violations {
			fail("invariant broken at %v on %s: %s", v.At, v.Host, v.What)
		}
		if len(r.Started) > 0 {
			fail("instances their user stopped run at the end: %v", r.Started)
		}
		if len(r.Stuck) > 0 {
			fail("held by a cluster rule long after its event was over (powered off, nothing else happening): %v", r.Stuck)
		}
	}
	countOrList := func(name string, want CountOrList, got []string) {
		switch {
		case !want.Set:
		case want.Names != nil && !slices.Equal(sortedCopy(want.Names), got):
			fail("%s: want %v, got %v", name, sortedCopy(want.Names), got)
		case want.Names == nil && want.Count != len(got):
			fail("%s: want %d, got %d %v", name, want.Count, len(got), got)
		}
	}
	countOrList("evacuated", e.Evacuated, r.Evacuated)
	countOrList("held", e.Held, r.Held)
	if e.Fenced != nil && !slices.Equal(sortedCopy(e.Fenced), r.Fenced) {
		fail("fenced: want %v, got %v", sortedCopy(e.Fenced), r.Fenced)
	}
	if e.DoubleWriters != nil && *e.DoubleWriters != len(r.DoubleWriters) {
		fail("double_writers: want %d, got %d %v", *e.DoubleWriters, len(r.DoubleWriters), r.DoubleWriters)
	}
	if e.LostInstances != nil && *e.LostInstances != len(r.Lost) {
		fail("lost_instances: want %d, got %d %v", *e.LostInstances, len(r.Lost), r.Lost)
	}
	if max := time.Duration(e.MaxRecovery); max > 0 {
		switch {
		case r.Recovered < 0:
			fail("max_recovery: want every evacuated instance running elsewhere within %v of the fault, but recovery never completed", max)
		case r.Recovered-r.FirstFault > max:
			fail("max_recovery: want %v, took %v", max, r.Recovered-r.FirstFault)
		}
	}
	for _, h := range sortedKeys(e.States) {
		if got := r.States[h]; got != e.States[h] {
			fail("states.%s: want %s, got %s", h, e.States[h], got)
		}
	}
	for _, want := range e.Alerts {
		if !r.alerted(want) {
			fail("alerts: want %q, got %v", want, r.alertCodes())
		}
	}
}

// heldForever finds incidents stuck at the end of a run: a host that is
// off for good, whose HA instances have no running copy, while vigil waits
// in rejoining for it to come back without saying it holds them (its
// status is not Held, which every hold alerts for with what to do). Nothing
// is retried there, so its instances are held forever.
func (r *Result) heldForever() []sim.Violation {
	w := r.World
	holds := map[string]bool{}
	for _, st := range r.Controller.Status() {
		holds[st.Name] = st.Held
	}
	running := map[string]bool{}
	for _, h := range w.Hosts {
		if h.On {
			for id := range h.Domains {
				running[id] = true
			}
		}
	}
	var out []sim.Violation
	for _, h := range w.Hosts {
		if h.On || h.Rebooting() || holds[h.Name] || r.States[h.Name] != string(decision.Rejoining) {
			continue
		}
		var down []string
		for _, id := range w.Nova.InstancesOn(h.Name) {
			if !running[id] {
				down = append(down, id)
			}
		}
		if len(down) > 0 {
			out = append(out, sim.Violation{At: w.Now(), Host: h.Name,
				What: fmt.Sprintf("held forever: %s is off and vigil waits in rejoining for it to come back; %v have no running copy", h.Name, down)})
		}
	}
	return out
}

// orphanedFences finds hosts left fenced by no incident at the end of a
// run: the host runs, vigil has no incident for it (so nothing will ever
// unfence or re-enable it), yet it is still forced down in Nova or
// blocklisted, and vigil is not retrying an unfence that the controllers,
// cut off from the Ceph monitors, cannot carry out yet.
func (r *Result) orphanedFences() []sim.Violation {
	w := r.World
	retrying := map[string]bool{}
	for _, st := range r.Controller.Status() {
		retrying[st.Name] = st.Unfence != ""
	}
	var out []sim.Violation
	for _, h := range w.Hosts {
		st := decision.State(r.States[h.Name])
		if !h.On || st == decision.Maintenance || st == decision.Fencing || st == decision.Fenced || st == decision.Recovering || st == decision.Recovered || st == decision.Rejoining {
			continue
		}
		var left []string
		if s := w.Nova.Services[h.Name]; s.ForcedDown {
			left = append(left, "forced down in Nova")
		}
		if w.Blocklisted(h) && (w.CtlReachesCeph() || !retrying[h.Name]) {
			// Not while vigil retries an unfence that cannot work yet:
			// the controllers do not reach the Ceph monitors.
			left = append(left, "blocklisted in Ceph")
		}
		if len(left) > 0 {
			out = append(out, sim.Violation{At: w.Now(), Host: h.Name,
				What: fmt.Sprintf("left fenced: %s runs, vigil has no incident for it (%s), yet it is still %s", h.Name, st, strings.Join(left, " and "))})
		}
	}
	return out
}

// alerted matches "code" or "host:code".
func (r *Result) alerted(want string) bool {
	for _, a := range r.Alerts {
		if a.Code == want || a.Host+":"+a.Code == want {
			return true
		}
	}
	return false
}

func (r *Result) alertCodes() []string {
	var out []string
	for _, a := range r.Alerts {
		out = append(out, a.Host+":"+a.Code)
	}
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Summary is the one-line result: PASS/FAIL, name and the milestones.
func (r *Result) Summary() string {
	verdict := "PASS"
	if !r.Pass() {
		verdict = "FAIL"
	}
	at := func(d time.Duration) string {
		if d < 0 {
			return "—"
		}
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%s  %-28s policy=%-5s detected=%-7s fence-verified=%-7s first-evacuate=%-7s all-recovered=%-7s double-writers=%d",
		verdict, r.Scenario.Name, r.Policy, at(r.Detected), at(r.FenceVerified), at(r.FirstEvacuate), at(r.Recovered), len(r.DoubleWriters))
}

// Explain lists the failed expectations, one per line.
func (r *Result) Explain() string {
	var b strings.Builder
	for _, f := range r.Failures {
		b.WriteString("      ✗ " + f + "\n")
	}
	return b.String()
}
