package chaos

import (
	"fmt"
	"maps"
	"math/rand"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/scenario"
)

// Options control a fuzz run.
type Options struct {
	Schedules int
	Seed      int64
	Policy    string
	Workers   int // 0 means GOMAXPROCS
	Gen       Gen // cluster sizes and fault mix
	// Progress, when set, is called after each schedule with the number done.
	Progress func(done int)
}

// Failure is a schedule that broke an invariant, shrunk to a minimum.
type Failure struct {
	Index  int
	Seed   int64
	Broken []string
	// Safety: the schedule broke a safety invariant (a double writer, an
	// evacuation without a fence, ...), not only a liveness one.
	Safety   bool
	Minimal  *scenario.Scenario
	Original *scenario.Scenario
}

// Report is the outcome of a fuzz run.
type Report struct {
	Schedules int
	Failures  []Failure // sorted by Index
	// What the schedules exercised, so a run that tested nothing shows.
	Fenced, Evacuated, Held int
	// LiveFenced counts fences sent while the host's agent ran and reached
	// the controllers (ground truth). Not an invariant: a hang that clears
	// in the instant of the power-off cannot be seen in time.
	LiveFenced int
}

// Run generates and checks opts.Schedules schedules.
func Run(opts Options) (Report, error) {
	if opts.Schedules < 1 {
		return Report{}, fmt.Errorf("chaos: --schedules must be at least 1")
	}
	if _, err := (&scenario.Scenario{}).NewPolicy(opts.Policy); err != nil && opts.Policy != "vigil" && opts.Policy != "" {
		return Report{}, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan int)
	var mu sync.Mutex // guards rep and done
	rep := Report{Schedules: opts.Schedules}
	done := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				f, r := check(i, opts.Seed+int64(i), opts.Policy, opts.Gen)
				mu.Lock()
				if f != nil {
					rep.Failures = append(rep.Failures, *f)
				}
				if r != nil {
					rep.Fenced += len(r.Fenced)
					rep.Evacuated += len(r.Evacuated)
					rep.Held += len(r.Held)
					rep.LiveFenced += r.LiveFenced
				}
				done++
				if opts.Progress != nil {
					opts.Progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < opts.Schedules; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sortFailures(rep.Failures)
	return rep, nil
}

func sortFailures(fs []Failure) {
	// Safety failures first: they are the ones to read.
	slices.SortFunc(fs, func(a, b Failure) int {
		if a.Safety != b.Safety {
			if a.Safety {
				return -1
			}
			return 1
		}
		return a.Index - b.Index
	})
}

// check generates schedule i and returns a shrunk failure (or nil) and
// the run's result.
func check(i int, seed int64, policy string, g Gen) (*Failure, *scenario.Result) {
	s := GenerateWith(seed, g)
	r, err := s.Run(policy)
	broken := broken(r, err)
	if len(broken) == 0 {
		return nil, r
	}
	return &Failure{Index: i, Seed: seed, Broken: broken, Safety: safety(r, err), Original: s, Minimal: Shrink(s, policy)}, r
}

// Broken runs s and lists the invariants it breaks.
func Broken(s *scenario.Scenario, policy string) []string {
	r, err := s.Run(policy)
	return broken(r, err)
}

// safety reports whether a run broke a safety invariant; a run that failed
// to run at all counts as one (nothing proves it safe).
func safety(r *scenario.Result, err error) bool {
	if err != nil || len(r.DoubleWriters) > 0 {
		return true
	}
	for _, v := range r.Violations {
		if v.Safety {
			return true
		}
	}
	return false
}

func broken(r *scenario.Result, err error) []string {
	if err != nil {
		return []string{"run failed: " + err.Error()}
	}
	var out []string
	for _, v := range r.Violations {
		out = append(out, fmt.Sprintf("%v %s: %s", v.At, v.Host, v.What))
	}
	if n := len(r.DoubleWriters); n > 0 {
		out = append(out, fmt.Sprintf("double writers on %d disks %v", n, r.DoubleWriters))
	}
	if len(r.Stuck) > 0 {
		out = append(out, fmt.Sprintf("held by a cluster rule long after its event was over: %v", r.Stuck))
	}
	if n := len(r.Lost); n > 0 {
		out = append(out, fmt.Sprintf("%d HA instances lost %v", n, r.Lost))
	}
	if n := len(r.Started); n > 0 {
		out = append(out, fmt.Sprintf("%d instances their user stopped run at the end %v", n, r.Started))
	}
	if n := len(r.Stranded); n > 0 {
		out = append(out, fmt.Sprintf("%d instances left unrecovered although a host had capacity for the last 70 s %v", n, r.Stranded))
	}
	return out
}

// Shrink removes faults one at a time while the schedule still breaks an
// invariant, and returns the smallest schedule found.
func Shrink(s *scenario.Scenario, policy string) *scenario.Scenario {
	cur := clone(s)
	for changed := true; changed; {
		changed = false
		for i := range cur.Faults {
			try := clone(cur)
			try.Faults = append(try.Faults[:i:i], try.Faults[i+1:]...)
			if try.Validate() == nil && truthful(try) && len(Broken(try, policy)) > 0 {
				cur, changed = try, true
				break
			}
		}
	}
	cur.Name = s.Name + "-minimal"
	return cur
}

func clone(s *scenario.Scenario) *scenario.Scenario {
	c := *s
	c.Faults = append([]scenario.Fault(nil), s.Faults...)
	return &c
}

// rejoinStream sets apart the rejoin class's random stream from the
// schedule's own.
const rejoinStream = 0x72656a6f696e

func d(v time.Duration) scenario.Duration { return scenario.Duration(v.Round(100 * time.Millisecond)) }

// Generate builds a random, valid schedule from seed with the default mix.
func Generate(seed int64) *scenario.Scenario { return GenerateWith(seed, Gen{}) }

// GenerateWith builds a random, valid schedule from seed. It keeps at least
// two hosts untouched so a recovery always has somewhere to go, and confirms
// only hosts that really are off (operators tell the truth here).
func GenerateWith(seed int64, g Gen) *scenario.Scenario {
	g = g.withDefaults()
	rng := rand.New(rand.NewSource(seed))
	hosts := g.MinHosts + rng.Intn(g.MaxHosts-g.MinHosts+1)
	s := &scenario.Scenario{
		Name:    fmt.Sprintf("fuzz-%d", seed),
		About:   "generated by vigil lab fuzz",
		Seed:    seed,
		Cluster: scenario.Cluster{Hosts: hosts, Instances: hosts * 2, Domains: domains(rng, hosts)},
		// Faults start within 105 s and last up to ~170 s; the quiet tail
		// that follows gives vigil time to finish what it can, so "lost"
		// at the end means lost, not still booting.
		Duration: d(400 * time.Second),
	}
	beltAndBraces := false
	switch rng.Intn(4) {
	case 0:
		s.Cluster.Fencing = []string{"ipmi", "ceph-blocklist"}
	case 1:
		// Two devices in one level: the only topology that survives a
		// lying BMC on a hung host (docs/fencing.md), so only it gets liars.
		s.Cluster.Fencing = []string{"ipmi+ceph-blocklist"}
		beltAndBraces = true
	}
	if rng.Intn(2) == 0 {
		// Agents with a hardware watchdog, and vigil trusting it after the
		// safe time (isolation 10 s + report 1 s + 3 x watchdog 10 s +
		// margin 5 s: safetime).
		s.Cluster.Watchdog = &scenario.Watchdog{IsolationTimeout: d(10 * time.Second), WatchdogTimeout: d(10 * time.Second)}
		s.Vigil = &scenario.Overrides{}
		s.Vigil.SelfFence.AssumeDeadAfter = d(46 * time.Second)
	}
	if rng.Intn(2) == 0 {
		// Nova accepts an evacuation up to 2 s after the fence re-read.
		s.Nova.EvacuateLatency = d(time.Duration(rng.Intn(21)) * 100 * time.Millisecond)
	}
	zero := 0
	s.Expect.DoubleWriters, s.Expect.LostInstances = &zero, &zero
	victims := rng.Perm(hosts)[:hosts-2]
	name := func() string { return fmt.Sprintf("cmp%d", victims[rng.Intn(len(victims))]+1) }
	at := func() scenario.Duration { return d(time.Duration(5+rng.Intn(100)) * time.Second) }
	dur := func() scenario.Duration {
		if rng.Intn(3) == 0 {
			return 0 // until the end
		}
		return d(time.Duration(2+rng.Intn(90)) * time.Second)
	}
	nets := []string{"mgmt", "storage"}
	all := func(extra ...string) []string { // every host, after extra
		for j := 1; j <= hosts; j++ {
			extra = append(extra, fmt.Sprintf("cmp%d", j))
		}
		return extra
	}
	n := 1 + rng.Intn(6)
	off := map[string]bool{}
	if w := g.Classes[ClassWorld]; w > 0 && rng.Intn(12) < w {
		world(rng, s)
	}
	for i := 0; i < n; i++ {
		f := scenario.Fault{At: at()}
		switch g.pick(rng) {
		case ClassRack:
			s.Faults = append(s.Faults, rack(rng, s, victims, f.At)...)
			continue
		case ClassIsolation:
			s.Faults = append(s.Faults, isolation(rng, s, victims, f.At)...)
			continue
		case ClassLeader:
			s.Faults = append(s.Faults, leader(rng, f.At)...)
			continue
		case ClassDevice:
			s.Faults = append(s.Faults, device(rng, s, victims, f.At)...)
			continue
		case ClassOperator:
			s.Faults = append(s.Faults, operator(rng, victims, f.At)...)
			continue
		case ClassLiar:
			s.Faults = append(s.Faults, liar(rng, s, victims, f.At)...)
			continue
		}
		vm := func() string { return fmt.Sprintf("vm%02d", 1+rng.Intn(s.Cluster.Instances)) }
		switch rng.Intn(30) {
		case 0:
			f.Stop, f.Host, f.For = []string{"nova-compute", "libvirtd", "agent"}[rng.Intn(3)], name(), dur()
		case 1, 2:
			f.Power, f.Host, f.For = "off", name(), dur()
			if f.For == 0 {
				off[f.Host] = true
			}
		case 3:
			f.Cut, f.Host, f.For = nets[rng.Intn(2)], name(), dur()
		case 4:
			f.Partition, f.For = nets[rng.Intn(2)], dur()
			h := name()
			var rest []string
			for j := 1; j <= hosts; j++ {
				if o := fmt.Sprintf("cmp%d", j); o != h {
					rest = append(rest, o)
				}
			}
			f.Groups = [][]string{{h}, rest}
		case 5:
			f.BMC, f.Host = "unreachable", name()
			if beltAndBraces && rng.Intn(2) == 0 {
				f.BMC = "lies"
			}
		case 6:
			f.Hang, f.Host, f.For = "host", name(), dur()
		case 7:
			f.Storage, f.For = "unreachable", d(time.Duration(2+rng.Intn(60))*time.Second)
		case 8:
			f.Kill = "controller-leader"
		case 9:
			f.Flap, f.Host, f.Period, f.Count = nets[rng.Intn(2)], name(), d(time.Duration(1+rng.Intn(8))*time.Second), 1+rng.Intn(10)
		case 10:
			f.Maintenance, f.Host = "on", name()
		case 11:
			f.Cut, f.Host = "mgmt", name()
			s.Faults = append(s.Faults, scenario.Fault{At: f.At, Cut: "storage", Host: f.Host, For: 0})
		case 12:
			// Someone powers a host back on later, fenced or not.
			f.Power, f.Host = "off", name()
			s.Faults = append(s.Faults, scenario.Fault{At: f.At + d(time.Duration(3+rng.Intn(60))*time.Second), Power: "on", Host: f.Host})
		case 13:
			// The leader dies right around a failure.
			f.Power, f.Host = "off", name()
			s.Faults = append(s.Faults, scenario.Fault{At: f.At + d(time.Duration(rng.Intn(12000))*time.Millisecond), Kill: "controller-leader"})
		case 14:
			f.Release = name() // ignored unless the brake holds it
		case 15:
			// Cut off from the controllers and its peers, but still on Ceph.
			h := name()
			var rest []string
			for _, o := range all() {
				if o != h {
					rest = append(rest, o)
				}
			}
			f.Partition, f.For, f.Groups = "mgmt", dur(), [][]string{{h}, append(rest, "controllers")}
			s.Faults = append(s.Faults, scenario.Fault{At: f.At, For: f.For, Partition: "storage",
				Groups: [][]string{{h, "ceph"}, append(rest, "controllers", "ceph")}})
		case 16:
			// The controllers lose Ceph (and the hosts on storage).
			f.Partition, f.For, f.Groups = "storage", dur(), [][]string{{"controllers"}, all("ceph")}
		case 17:
			// vigil's entries removed by someone else: only in the lapse
			// class. vigil re-adds them at its next renewal (fence-lapsed),
			// but guests may write in between: a known limit
			// (docs/known-limits/fence-lapses-before-nova-accepts.yaml).
			f.Release = name()
			if g.Classes[ClassLapse] > 0 {
				f.Release, f.Blocklist, f.Host = "", "expire", name()
			}
		case 18:
			// Every network at once (a bond), briefly or flapping.
			f.Flap, f.Host, f.Period, f.Count = "bond", name(), d(time.Duration(4000+rng.Intn(10000))*time.Millisecond), 1+rng.Intn(10)
		case 19:
			f.Hang, f.Host, f.For = "userspace", name(), dur()
		case 20:
			// Capacity loss: nova-compute down on a host for a while.
			f.Stop, f.Host, f.For = "nova-compute", name(), d(time.Duration(30+rng.Intn(90))*time.Second)
		case 21:
			// Two hosts dying seconds apart.
			f.Power, f.Host = "off", name()
			s.Faults = append(s.Faults, scenario.Fault{At: f.At + d(time.Duration(rng.Intn(5000))*time.Millisecond), Power: "off", Host: name()})
		case 22:
			f.BMC, f.Host, f.Delay = []string{"slow", "late"}[rng.Intn(2)], name(), d(time.Duration(1+rng.Intn(10))*time.Second)
		case 23:
			// A host off for good, then: its BMC lost right around the
			// fence, maintenance on and off mid-incident, or an operator's
			// (truthful) confirm at a random phase.
			f.Power, f.Host = "off", name()
			off[f.Host] = true
			later := func(lo, span time.Duration) scenario.Duration {
				return f.At + d(lo+time.Duration(rng.Int63n(int64(span))))
			}
			switch rng.Intn(3) {
			case 0:
				s.Faults = append(s.Faults, scenario.Fault{At: later(4500*time.Millisecond, 2*time.Second), BMC: "unreachable", Host: f.Host})
			case 1:
				on := later(0, 40*time.Second)
				s.Faults = append(s.Faults, scenario.Fault{At: on, Maintenance: "on", Host: f.Host},
					scenario.Fault{At: on + d(time.Duration(5+rng.Intn(60))*time.Second), Maintenance: "off", Host: f.Host})
			case 2:
				s.Faults = append(s.Faults, scenario.Fault{At: later(0, 60*time.Second), Confirm: f.Host})
			}
		case 24:
			liveness(rng, s, f.At, name)
			continue
		case 25:
			f.Instance, f.VM = "shutoff", vm() // its user stopped it
		case 26:
			f.Instance, f.VM = "error", vm() // a failed operation; the guest runs on
		case 27:
			// An operation left in flight: a live migration (switched over
			// to another host, or not), a delete, a rebuild.
			f.Instance, f.VM = []string{"migrating", "deleting", "rebuilding"}[rng.Intn(3)], vm()
			if f.Instance == "migrating" && rng.Intn(2) == 0 {
				f.Host = fmt.Sprintf("cmp%d", 1+rng.Intn(hosts))
			} else {
				f.For = dur()
			}
		case 28:
			s.Cluster.Capacity = 3 // two instances a host: room for one more each
			continue
		case 29:
			f.Rebuild, f.Host, f.For = "fails", fmt.Sprintf("cmp%d", 1+rng.Intn(hosts)), dur()
		}
		s.Faults = append(s.Faults, f)
	}
	for _, h := range slices.Sorted(maps.Keys(off)) {
		if rng.Intn(2) == 0 {
			s.Faults = append(s.Faults, scenario.Fault{At: d(200 * time.Second), Confirm: h})
		}
	}
	if w := g.Classes[ClassRejoin]; w > 0 {
		rejoins(rand.New(rand.NewSource(seed^rejoinStream)), s, w)
	}
	dropLies(s)
	if err := s.Validate(); err != nil {
		panic(fmt.Sprintf("chaos: generated an invalid scenario: %v", err)) // a generator bug
	}
	return s
}

// liveness is a fault mix for the cluster rules' liveness: does a real
// failure still get through after what they count? Hosts dying one after
// another (small clusters), agents stopped on several hosts at once (an
// upgrade), short blips of every path around a real death, and a leader
// killed long after an incident. The run is long enough for a brake window
// to pass after the last fault.
func liveness(rng *rand.Rand, s *scenario.Scenario, at scenario.Duration, name func() string) {
	sec := func(n int) scenario.Duration { return d(time.Duration(n) * time.Second) }
	var fs []scenario.Fault
	switch rng.Intn(4) {
	case 0:
		for k := 0; k < 2+rng.Intn(3); k++ {
			fs = append(fs, scenario.Fault{At: at + sec(k*(10+rng.Intn(40))), Power: "off", Host: name()})
		}
	case 1:
		for k := 0; k < 2+rng.Intn(3); k++ {
			fs = append(fs, scenario.Fault{At: at + sec(rng.Intn(3)), Stop: "agent", Host: name(), For: sec(20 + rng.Intn(60))})
		}
		fs = append(fs, scenario.Fault{At: at + sec(5+rng.Intn(20)), Power: "off", Host: name()})
	case 2:
		fs = append(fs, scenario.Fault{At: at, Power: "off", Host: name()})
		for k := 0; k < 1+rng.Intn(3); k++ {
			h, blip := name(), scenario.Fault{At: at + sec(1+rng.Intn(4)), For: sec(3 + rng.Intn(3))}
			fs = append(fs, blip, blip)
			fs[len(fs)-2].Cut, fs[len(fs)-2].Host, fs[len(fs)-1].Cut, fs[len(fs)-1].Host = "mgmt", h, "storage", h
		}
	case 3:
		fs = append(fs, scenario.Fault{At: at, Power: "off", Host: name()}, scenario.Fault{At: at + sec(30+rng.Intn(120)), Kill: "controller-leader"},
			scenario.Fault{At: at + sec(40+rng.Intn(120)), Power: "off", Host: name()})
	}
	s.Faults = append(s.Faults, fs...)
	s.Duration = max(s.Duration, d(480*time.Second))
}
