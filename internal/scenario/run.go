package scenario

import (
	"fmt"
	"sort"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/naive"
	"github.com/vigil-ha/vigil/internal/sim"
)

// Policies that a scenario can run under.
const (
	PolicyVigil = "vigil"
	PolicyNaive = "naive"
)

// Result is what happened in one run. Times are offsets from the start of
// the run; -1 means never.
type Result struct {
	Scenario *Scenario
	Policy   string

	Detected, FenceVerified, FirstEvacuate, Recovered time.Duration
	FirstFault                                        time.Duration

	Evacuated     []string // instances whose evacuation Nova accepted
	Fenced        []string // hosts that reached fenced
	DoubleWriters []string // instances whose disk had two writers
	Lost, Held    []string
	// Started are instances their user stopped whose guest runs at the end
	// on the host Nova places them on: vigil (or Nova under it) started
	// what its user had stopped.
	Started []string
	// Stranded are instances vigil still lists for an operator
	// (LeftToOperator) at the end although a host has been healthy, with
	// nova-compute up and enabled, for the last 70 s: capacity was there.
	Stranded   []string
	LiveFenced int      // fences sent while the host's agent ran and reached the controllers
	Stuck      []string // hosts held by a cluster rule after its event was over (see stuck)
	States     map[string]string
	Alerts     []decision.Action
	Violations []sim.Violation
	Failures   []string // expectations that did not hold

	World      *sim.World
	Controller *sim.Controller
}

// Pass reports whether every expectation held.
func (r *Result) Pass() bool { return len(r.Failures) == 0 }

// NewPolicy builds the named policy for the scenario's cluster.
func (s *Scenario) NewPolicy(policy string) (func() sim.Policy, error) {
	switch policy {
	case PolicyNaive:
		return func() sim.Policy { return naive.New() }, nil
	case PolicyVigil, "":
		cfg, err := s.DecisionConfig()
		if err != nil {
			return nil, err
		}
		return func() sim.Policy {
			e, err := decision.New(cfg)
			if err != nil {
				panic(err) // validated above
			}
			return e
		}, nil
	}
	return nil, fmt.Errorf("%w: policy %q: use vigil or naive", ErrInvalid, policy)
}

// Run plays the scenario under policy and checks its expectations.
func (s *Scenario) Run(policy string) (*Result, error) {
	newPolicy, err := s.NewPolicy(policy)
	if err != nil {
		return nil, err
	}
	return s.run(policy, newPolicy)
}

func (s *Scenario) run(policy string, newPolicy func() sim.Policy) (*Result, error) {
	var wd *sim.Watchdog
	if c := s.Cluster.Watchdog; c != nil {
		wd = &sim.Watchdog{IsolationTimeout: time.Duration(c.IsolationTimeout), WatchdogTimeout: time.Duration(c.WatchdogTimeout)}
	}
	w, err := sim.NewWorld(sim.Config{
		Watchdog: wd, MessageDelay: time.Duration(s.Cluster.MessageDelay), ClockRates: s.Cluster.ClockRates,
		Hosts: s.Cluster.Hosts, Networks: s.Networks(), Instances: s.Cluster.Instances,
		Domains: s.Cluster.Domains, FenceLevels: s.Cluster.Fencing, Seed: s.Seed,
		ReportInterval: time.Duration(s.Nova.ReportInterval), ServiceDown: time.Duration(s.Nova.ServiceDownTime),
		BlocklistExpire: time.Duration(s.Cluster.BlocklistExpire), EvacuateLatency: time.Duration(s.Nova.EvacuateLatency),
		Capacity: s.Capacities(),
	})
	if err != nil {
		return nil, err
	}
	c := sim.NewController(w, newPolicy)
	c.Guarded = policy != PolicyNaive
	sched := s.schedule(w, c)
	sim.Run(w, c, time.Duration(s.Duration), sched.apply)
	r := &Result{Scenario: s, Policy: policy, World: w, Controller: c, FirstFault: sched.first,
		Detected: c.FirstFailed, FenceVerified: c.FirstFenced, FirstEvacuate: c.FirstEvacuate,
		Violations: c.Violations, Alerts: c.Alerts, States: map[string]string{}}
	if r.Policy == "" {
		r.Policy = PolicyVigil
	}
	r.collect()
	if cfg, err := s.DecisionConfig(); err == nil && r.Policy == PolicyVigil {
		r.Stuck = r.stuck(cfg)
	}
	r.check()
	return r, nil
}

// collect reads the outcome off the world and the policy.
func (r *Result) collect() {
	w, c := r.World, r.Controller
	r.Evacuated = sortedSet(c.Evacuated)
	r.Fenced = sortedSet(c.Fenced)
	r.DoubleWriters = w.DoubleWriters()
	held := map[string]bool{}
	leftToOperator := map[string]bool{}
	for _, st := range c.Status() {
		r.States[st.Name] = string(st.State)
		if st.Held {
			held[st.Name] = true
		}
		for _, in := range st.LeftToOperator {
			leftToOperator[in] = true
		}
	}
	if u, ok := c.Policy().(interface{ Unresolved() []string }); ok {
		for _, in := range u.Unresolved() {
			leftToOperator[in] = true
		}
	}
	running := map[string]bool{}
	for _, h := range w.Hosts {
		if h.On {
			for id := range h.Domains {
				running[id] = true
			}
		}
	}
	r.LiveFenced = c.LiveFenced
	capacity := false
	for _, st := range c.Status() {
		s := w.Nova.Services[st.Name]
		if st.State == "healthy" && w.Now()-st.Since.Sub(sim.Epoch) >= 70*time.Second && w.Nova.Up(st.Name) && !s.ForcedDown && !s.Disabled && w.Nova.HasRoom(st.Name) {
			capacity = true
		}
	}
	stranded := map[string]bool{}
	for _, st := range c.Status() {
		for _, in := range st.LeftToOperator {
			// Capacity does not help an instance with a task state (Nova
			// refuses its evacuation until an operator clears it), nor
			// one whose host vigil holds (its fence cannot be read now),
			// nor one on a live host with no incident (its agent is
			// silent: vigil moves nothing off a live host).
			stranded[in] = capacity && w.Nova.Instances[in].Task == "" && !st.Held && inIncident(string(st.State))
		}
	}
	for in, ok := range stranded {
		if ok {
			r.Stranded = append(r.Stranded, in)
		}
	}
	sort.Strings(r.Stranded)
	r.Recovered = -1
	allBack := len(r.Evacuated) > 0
	for _, id := range r.Evacuated {
		inst := w.Nova.Instances[id]
		if r.stoppedInPlace(inst) {
			continue // rebuilt and kept stopped, as its user left it
		}
		if inst.VM != sim.Active || !running[id] {
			allBack = false
			continue
		}
		if inst.ActiveAt > r.Recovered {
			r.Recovered = inst.ActiveAt
		}
	}
	if !allBack {
		r.Recovered = -1
	}
	for _, h := range w.Hosts {
		for _, id := range w.Nova.InstancesOn(h.Name) {
			inst := w.Nova.Instances[id]
			if inst.Stopped && h.On && h.Domains[id] {
				// Its guest runs where Nova places it: started again.
				// (A stale copy on a host it was moved off, blocklisted,
				// is rejoin-blocked's, not a start.)
				r.Started = append(r.Started, id)
			}
			if running[id] || h.Starting() || r.stoppedInPlace(inst) {
				continue // running, about to be resumed as the run ends, or stopped by its user where it can be started
			}
			if held[h.Name] || leftToOperator[id] {
				r.Held = append(r.Held, id)
				continue
			}
			if s := w.Nova.Services[h.Name]; (inst.VM == sim.Errored || inst.Task != "") && h.On && !s.ForcedDown && !inIncident(r.States[h.Name]) && !h.GateRefused(id) {
				// In ERROR, or with an operation in flight (a live migration
				// whose destination died after the switch-over), on a live
				// host (powered, whatever Nova's service group says) vigil
				// has no incident for: an operator's to repair
				// (vigil never evacuates from a host that is not fenced).
				// Not one that vigil's own guest-start gate refused there:
				// ERROR because vigil said no, it is vigil's to start.
				continue
			}
			r.Lost = append(r.Lost, id)
		}
	}
	sort.Strings(r.Held)
	sort.Strings(r.Lost)
	sort.Strings(r.Started)
}

// inIncident reports whether a host state is one of vigil's incident phases.
func inIncident(state string) bool {
	switch decision.State(state) {
	case decision.Fencing, decision.Fenced, decision.Recovering, decision.Recovered, decision.Rejoining:
		return true
	}
	return false
}

// stoppedInPlace reports whether inst is stopped by its user (SHUTOFF, no
// task) on a powered host that is not forced down: its user can start it
// there (once Nova hears from the host again). That is no lost instance, and
// it must not run. (The guests of a powered host count as running the same
// way.)
func (r *Result) stoppedInPlace(inst *sim.Instance) bool {
	h, s := r.World.Host(inst.Host), r.World.Nova.Services[inst.Host]
	return inst.Stopped && inst.VM == sim.Shutoff && inst.Task == "" && h != nil && h.On && !s.ForcedDown
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
