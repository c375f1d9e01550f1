package chaos

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/safetime"
	"github.com/vigil-ha/vigil/internal/scenario"
)

// Gen controls the shape of generated schedules: cluster sizes and which
// fault classes to draw from.
type Gen struct {
	// MinHosts, MaxHosts bound the cluster size. Defaults 3 and 12.
	MinHosts, MaxHosts int
	// Classes are the fault classes drawn from, with weights; nil means
	// DefaultClasses.
	Classes map[string]int
}

// Fault classes beyond the single-host faults of the classic mix.
const (
	ClassClassic   = "classic"   // one-host faults: stops, power, cuts, flaps, hangs, BMCs, storage, leader kills, maintenance
	ClassRack      = "rack"      // a group of hosts cut off together on every network, often with their BMCs
	ClassIsolation = "isolation" // a host cut off with its BMC lost, then its agent stopped, restarted, crashed, crash-looping or hung across its grant's end, or its power cycled
	ClassLeader    = "leader"    // the leader killed, stalled past or within its lease, or cut off etcd, around a failure
	ClassWorld     = "world"     // clock rates within the safe-time margin and message delay (drawn once per schedule)
	// ClassLapse lets the classic mix expire vigil's blocklist entries, a
	// known limit until renewal lands: off by default (weight 0).
	ClassLapse = "lapse"
	// ClassDevice reconfigures a host's agent with a longer watchdog
	// timeout than the controllers' (often on a device that rounds it up),
	// then cuts the host off and restarts and later crashes its agent: the
	// successor that resumes its predecessor's grant with the longer
	// timeout (adversarial review 16, which found the rounding hole with
	// it; in the default mix since the device's timeout is set once per
	// boot).
	ClassDevice = "device"
	// ClassOperator is an operator pausing vigil (vigil pause) around
	// failures, for a while or until an explicit resume, across leader
	// changes and next to maintenance.
	ClassOperator = "operator"
	// ClassRejoin switches a schedule to the manual rejoin policy (weight
	// in 12, drawn once per schedule, from a stream of its own so the rest
	// of a seed's schedule stays what it was) and has an operator run
	// vigil rejoin on the hosts its faults touch at random times: too
	// early (refused), while the host waits rejoin-ready, or never.
	ClassRejoin = "rejoin"
	// ClassLiar puts one host's BMC to lying ("off" while the host runs)
	// for a bounded window, whatever the topology, and in it only outages
	// shorter than the documented limit (a 3.8 s cut behind a lying BMC
	// with one power device, docs/fencing.md) or a host that stays visible
	// (agent crashed with peers reaching it, cut off from the controllers
	// but on Ceph), often with a short hang on top, a hang repeated after
	// a brief resume, or a leader stall within its lease: the stresses of
	// the quiet-host fast path (attack31). On 4cc31dd it fails in
	// single-device topologies. Weight 0 in the default mix (its draws
	// would thin the other classes' rare patterns); make fuzz-check runs
	// it on its own with a fresh seed.
	ClassLiar = "liar"
)

// DefaultClasses is the harsh mix `vigil lab fuzz` uses.
var DefaultClasses = map[string]int{ClassClassic: 6, ClassRack: 2, ClassIsolation: 2, ClassLeader: 1, ClassWorld: 1, ClassLapse: 0, ClassDevice: 1, ClassOperator: 1, ClassRejoin: 3, ClassLiar: 0}

// ParseClasses reads "classic=6,rack=2" (a class without =N weighs 1).
func ParseClasses(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, w, found := strings.Cut(strings.TrimSpace(part), "=")
		weight := 1
		if found {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("chaos: --mix %q: weight of %s must be a whole number >= 0", s, name)
			}
			weight = n
		}
		if _, ok := DefaultClasses[name]; !ok {
			return nil, fmt.Errorf("chaos: --mix: unknown fault class %q; classes: %s", name, strings.Join(classNames(), ", "))
		}
		out[name] = weight
	}
	return out, nil
}

func classNames() []string {
	var out []string
	for k := range DefaultClasses {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (g Gen) withDefaults() Gen {
	if g.MinHosts < 3 {
		g.MinHosts = 3
	}
	if g.MaxHosts < g.MinHosts {
		g.MaxHosts = max(g.MinHosts, 12)
	}
	if g.Classes == nil {
		g.Classes = DefaultClasses
	}
	return g
}

// pick draws a fault's class by weight (deterministic for a seed: classes in
// order). The world and rejoin classes are drawn once per schedule, not per
// fault.
func (g Gen) pick(rng *rand.Rand) string {
	names := slices.DeleteFunc(classNames(), func(n string) bool { return n == ClassWorld || n == ClassLapse || n == ClassRejoin })
	total := 0
	for _, n := range names {
		total += g.Classes[n]
	}
	if total == 0 {
		return ClassClassic
	}
	r := rng.Intn(total)
	for _, n := range names {
		if r < g.Classes[n] {
			return n
		}
		r -= g.Classes[n]
	}
	return ClassClassic
}

// domains splits cmp1..cmpN into racks of 3–6 hosts; small clusters get none.
func domains(rng *rand.Rand, hosts int) map[string][]string {
	if hosts < 6 || rng.Intn(3) == 0 {
		return nil
	}
	out := map[string][]string{}
	for i, r := 1, 1; i <= hosts; r++ {
		size := 3 + rng.Intn(4)
		var rack []string
		for ; size > 0 && i <= hosts; size-- {
			rack = append(rack, fmt.Sprintf("cmp%d", i))
			i++
		}
		out[fmt.Sprintf("rack%d", r)] = rack
	}
	return out
}

// world draws clock rates within the margin and a message delay.
func world(rng *rand.Rand, s *scenario.Scenario) {
	rates := map[string]float64{"controllers": 1 + float64(rng.Intn(81)-40)/1000}
	for i := 1; i <= s.Cluster.Hosts; i++ {
		if rng.Intn(3) == 0 {
			rates[fmt.Sprintf("cmp%d", i)] = 1 + float64(rng.Intn(81)-40)/1000
		}
	}
	s.Cluster.ClockRates = rates
	s.Cluster.MessageDelay = d(time.Duration(rng.Intn(16)) * 100 * time.Millisecond)
}

// group picks 1–3 victims cut off together; when hosts carry domains it is
// often all of one rack.
func group(rng *rand.Rand, s *scenario.Scenario, victims []int) []string {
	if len(s.Cluster.Domains) > 0 && rng.Intn(2) == 0 {
		racks := slices.Sorted(func(yield func(string) bool) {
			for r := range s.Cluster.Domains {
				if !yield(r) {
					return
				}
			}
		})
		rack := s.Cluster.Domains[racks[rng.Intn(len(racks))]]
		var out []string
		for _, h := range rack {
			if slices.Contains(victims, hostIndex(h)) {
				out = append(out, h)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	n := 1 + rng.Intn(min(3, len(victims)))
	var out []string
	for _, v := range rng.Perm(len(victims))[:n] {
		out = append(out, fmt.Sprintf("cmp%d", victims[v]+1))
	}
	slices.Sort(out)
	return out
}

func hostIndex(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "cmp"))
	return n - 1
}

// cutOff partitions both networks so that g reaches only itself (and, with
// ceph, nothing else either), for dur.
func cutOff(s *scenario.Scenario, g []string, at, dur scenario.Duration) []scenario.Fault {
	var rest []string
	for i := 1; i <= s.Cluster.Hosts; i++ {
		if h := fmt.Sprintf("cmp%d", i); !slices.Contains(g, h) {
			rest = append(rest, h)
		}
	}
	rest = append(rest, "controllers")
	var out []scenario.Fault
	for _, net := range []string{"mgmt", "storage"} {
		out = append(out, scenario.Fault{At: at, Partition: net, Groups: [][]string{slices.Clone(g), slices.Clone(rest)}, For: dur})
	}
	return out
}

// rack is a group cut off on every network, its BMCs often lost with it.
func rack(rng *rand.Rand, s *scenario.Scenario, victims []int, at scenario.Duration) []scenario.Fault {
	g := group(rng, s, victims)
	dur := d(time.Duration(20+rng.Intn(150)) * time.Second)
	if rng.Intn(4) == 0 {
		dur = 0
	}
	out := cutOff(s, g, at, dur)
	if rng.Intn(3) != 0 {
		for _, h := range g {
			out = append(out, scenario.Fault{At: at, BMC: "unreachable", Host: h})
		}
	}
	return out
}

// isolation cuts one host off with its BMC and then, while it is cut off,
// stops, restarts or crashes its agent or cycles its power; or restarts its
// agent just before the cut, with slow messages; or power-cycles it into a
// boot without a watchdog before the cut.
func isolation(rng *rand.Rand, s *scenario.Scenario, victims []int, at scenario.Duration) []scenario.Fault {
	h := fmt.Sprintf("cmp%d", victims[rng.Intn(len(victims))]+1)
	dur := d(time.Duration(30+rng.Intn(120)) * time.Second)
	out := []scenario.Fault{{At: at, BMC: "unreachable", Host: h}}
	if rng.Intn(2) == 0 {
		out = append(out, scenario.Fault{At: at, Cut: "mgmt", Host: h, For: dur}, scenario.Fault{At: at, Cut: "storage", Host: h, For: dur})
	} else {
		out = append(out, cutOff(s, []string{h}, at, dur)...)
	}
	then := at + d(time.Duration(rng.Intn(40000))*time.Millisecond)
	back := d(time.Duration(1+rng.Intn(20)) * time.Second)
	switch rng.Intn(8) {
	case 7:
		// The agent crash-loops while the host is cut off: every exit
		// of a process holding the watchdog device pings it (Linux's
		// release), and so did every start that set its timeout.
		every := d(time.Duration(1+rng.Intn(8)) * time.Second)
		for i, n := 0, 3+rng.Intn(13); i < n; i++ {
			out = append(out, scenario.Fault{At: then + scenario.Duration(i)*every, Crash: "agent", Host: h, For: d(time.Duration(1+rng.Intn(3)) * 500 * time.Millisecond)})
		}
	case 6:
		// The host's userspace (or all of it) hangs across the end of
		// its grant, a feed decided just before landing after it, and
		// the agent crashes soon after: the two pings the safe time
		// allows after the grant, then nothing.
		kind := []string{"userspace", "host"}[rng.Intn(2)]
		hang := d(time.Duration(2000+rng.Intn(15000)) * time.Millisecond)
		out = append(out, scenario.Fault{At: then, Hang: kind, Host: h, For: hang})
		if rng.Intn(3) > 0 {
			out = append(out, scenario.Fault{At: then + hang + d(time.Duration(rng.Intn(12000))*time.Millisecond), Crash: "agent", Host: h, For: back})
		}
	case 5:
		// The host came back from a power cycle without its watchdog
		// (the module did not load) shortly before the cut.
		if s.Cluster.Watchdog == nil {
			return append(out, scenario.Fault{At: then, Power: "off", Host: h, For: back})
		}
		before := d(time.Duration(20000+rng.Intn(30000)) * time.Millisecond)
		if before > at {
			before = at
		}
		out = append(out, scenario.Fault{At: at - before, Watchdog: "missing", Host: h},
			scenario.Fault{At: at - before, Power: "off", Host: h, For: back})
	case 4:
		// The agent restarted just before the cut, its stop notice and
		// the acknowledgement still in flight on slow links.
		if s.Cluster.MessageDelay == 0 {
			s.Cluster.MessageDelay = d(time.Duration(3+rng.Intn(18)) * 100 * time.Millisecond)
		}
		before := d(time.Duration(rng.Intn(4000)) * time.Millisecond)
		if before > at {
			before = at
		}
		out = append(out, scenario.Fault{At: at - before, Stop: "agent", Host: h, For: d(time.Duration(1+rng.Intn(10)) * 100 * time.Millisecond)})
	case 0:
		out = append(out, scenario.Fault{At: then, Stop: "agent", Host: h})
	case 1:
		out = append(out, scenario.Fault{At: then, Stop: "agent", Host: h, For: back})
	case 2:
		out = append(out, scenario.Fault{At: then, Crash: "agent", Host: h, For: back})
	case 3:
		out = append(out, scenario.Fault{At: then, Power: "off", Host: h, For: back})
	}
	return out
}

// device reconfigures one host's agent with a longer watchdog timeout than
// the controllers' shortly before the host is cut off with its BMC, often
// on a device that rounds the timeout up (twice it), then the agent crashes
// and restarts right after the cut (the successor resumes the grant) and
// crashes once more later (the kernel's release ping).
func device(rng *rand.Rand, s *scenario.Scenario, victims []int, at scenario.Duration) []scenario.Fault {
	if s.Cluster.Watchdog == nil {
		return isolation(rng, s, victims, at)
	}
	h := fmt.Sprintf("cmp%d", victims[rng.Intn(len(victims))]+1)
	before := d(time.Duration(1000+rng.Intn(20000)) * time.Millisecond)
	if before > at {
		before = at
	}
	w := s.Cluster.Watchdog.WatchdogTimeout + d(time.Duration(1+rng.Intn(8))*time.Second)
	out := []scenario.Fault{{At: at - before, Watchdog: "config", Host: h, Delay: w}}
	if rng.Intn(3) > 0 {
		out = append(out, scenario.Fault{At: at - before, Watchdog: "long", Host: h})
	}
	dur := d(time.Duration(60+rng.Intn(120)) * time.Second)
	out = append(out, scenario.Fault{At: at, BMC: "unreachable", Host: h})
	if rng.Intn(2) == 0 {
		out = append(out, scenario.Fault{At: at, Cut: "mgmt", Host: h, For: dur}, scenario.Fault{At: at, Cut: "storage", Host: h, For: dur})
	} else {
		out = append(out, cutOff(s, []string{h}, at, dur)...)
	}
	crash := at + d(time.Duration(rng.Intn(3000))*time.Millisecond)
	out = append(out, scenario.Fault{At: crash, Crash: "agent", Host: h, For: d(time.Duration(1+rng.Intn(4)) * 250 * time.Millisecond)})
	if rng.Intn(2) == 0 {
		out = append(out, scenario.Fault{At: crash + d(time.Duration(5000+rng.Intn(60000))*time.Millisecond), Crash: "agent", Host: h})
		return out
	}
	// A longer isolation timeout (so that a cut of three differences fits
	// in it), a hang across the cut grant's end and a crash loop after it.
	iso := d(time.Duration(30+rng.Intn(31)) * time.Second)
	s.Cluster.Watchdog.IsolationTimeout = iso
	if s.Vigil == nil {
		s.Vigil = &scenario.Overrides{}
	}
	s.Vigil.SelfFence.AssumeDeadAfter = d(safetime.Minimum(safetime.Input{ReportInterval: time.Second,
		IsolationTimeout: time.Duration(iso), WatchdogTimeout: time.Duration(s.Cluster.Watchdog.WatchdogTimeout)}))
	hang := crash + d(time.Duration(1000+rng.Intn(10000))*time.Millisecond)
	hangFor := d(time.Duration(5000+rng.Intn(25000)) * time.Millisecond)
	out = append(out, scenario.Fault{At: hang, Hang: "userspace", Host: h, For: hangFor})
	t := hang + hangFor
	for i, n := 0, 2+rng.Intn(3); i < n; i++ {
		t += d(time.Duration(1000+rng.Intn(30000)) * time.Millisecond)
		out = append(out, scenario.Fault{At: t, Crash: "agent", Host: h, For: d(time.Duration(1+rng.Intn(4)) * 100 * time.Millisecond)})
	}
	return out
}

// leader kills, stalls or cuts off etcd the leader around a failure.
// operator pauses vigil at at: for a while, or until a resume later; a
// host fails shortly before or while it is paused (so an incident is
// either open at the pause and must carry on, or held by it), and
// sometimes the leader dies meanwhile or another host is in maintenance.
// liar is one host behind a lying BMC for a bounded window, in which it
// hangs, is cut off or loses its agent only briefly, or stays visible to
// peers or Ceph (ClassLiar).
func liar(rng *rand.Rand, s *scenario.Scenario, victims []int, at scenario.Duration) []scenario.Fault {
	// A host no earlier group touched: two groups' outages on one host
	// add up to one longer than the limit, which every engine fails
	// behind a lying BMC (docs/known-limits/).
	busy := map[string]bool{}
	for _, f := range s.Faults {
		busy[f.Host] = true
		for _, g := range f.Groups {
			if len(g) == 1 {
				busy[g[0]] = true // cut off alone
			}
		}
	}
	var free []string
	for _, v := range victims {
		if h := fmt.Sprintf("cmp%d", v+1); !busy[h] {
			free = append(free, h)
		}
	}
	if len(free) == 0 {
		return nil
	}
	h := free[rng.Intn(len(free))]
	// An outage below the documented limit (an outage of every path
	// that outlasts the time to the first evacuation, about 3 s), at
	// 100 ms steps.
	short := func() scenario.Duration { return d(time.Duration(1000+rng.Intn(19)*100) * time.Millisecond) }
	ms := func(lo, span int) scenario.Duration { return d(time.Duration(lo+rng.Intn(span)) * time.Millisecond) }
	var out []scenario.Fault
	end := at
	add := func(f scenario.Fault) {
		out = append(out, f)
		end = max(end, f.At+f.For)
	}
	switch rng.Intn(7) {
	case 0:
		add(scenario.Fault{At: at, Hang: "host", Host: h, For: short()})
	case 1:
		add(scenario.Fault{At: at, Cut: "bond", Host: h, For: short()})
	case 2:
		// Hangs, resumes briefly, hangs again.
		first := short()
		add(scenario.Fault{At: at, Hang: "host", Host: h, For: first})
		// Resumed long enough for a report to get through (one
		// interval and the way there): else the two are one outage.
		add(scenario.Fault{At: at + first + ms(1500, 1500), Hang: "host", Host: h, For: short()})
	case 3:
		// The agent crashes (no stop notice); the kernel and peers run on,
		// then the host hangs briefly.
		crash := ms(10000, 50000)
		add(scenario.Fault{At: at, Crash: "agent", Host: h, For: crash})
		add(scenario.Fault{At: at + ms(2000, int(crash/scenario.Duration(time.Millisecond))-1000), Hang: "host", Host: h, For: short()})
	case 4:
		// Cut off from the controllers and its peers, still on Ceph;
		// sometimes a brief hang inside.
		var rest []string
		for j := 1; j <= s.Cluster.Hosts; j++ {
			if o := fmt.Sprintf("cmp%d", j); o != h {
				rest = append(rest, o)
			}
		}
		long := ms(10000, 50000)
		add(scenario.Fault{At: at, Partition: "mgmt", For: long, Groups: [][]string{{h}, append(slices.Clone(rest), "controllers")}})
		add(scenario.Fault{At: at, Partition: "storage", For: long, Groups: [][]string{{h, "ceph"}, append(slices.Clone(rest), "controllers", "ceph")}})
		if rng.Intn(3) != 0 {
			add(scenario.Fault{At: at + ms(2000, int(long/scenario.Duration(time.Millisecond))-1000), Hang: "host", Host: h, For: short()})
		}
	case 5:
		// A userspace hang (the agent stops, the kernel answers ping),
		// sometimes a kernel hang within it: the agent's outage is their
		// union, kept below the limit as every other outage here.
		u := short()
		add(scenario.Fault{At: at, Hang: "userspace", Host: h, For: u})
		if rng.Intn(2) == 0 {
			off := ms(0, int(min(u, d(2400*time.Millisecond))/scenario.Duration(time.Millisecond)))
			add(scenario.Fault{At: at + off, Hang: "host", Host: h, For: max(d(500*time.Millisecond), min(short(), d(2900*time.Millisecond)-off))})
		}
	case 6:
		add(scenario.Fault{At: at, Stall: "controller-leader", For: ms(1000, 900)})
		if rng.Intn(2) == 0 {
			add(scenario.Fault{At: at + ms(0, 3000), Crash: "agent", Host: h, For: short()})
		}
	}
	// The lie starts before the trouble and ends well after it: a lie
	// that ends during an incident reads "on", which undoes a fence and
	// would hide what it let through.
	from := max(at-ms(1000, 9000), 0)
	lie := scenario.Fault{At: from, BMC: "lies", Host: h, For: end - from + d(20*time.Second)}
	return append([]scenario.Fault{lie}, out...)
}

func operator(rng *rand.Rand, victims []int, at scenario.Duration) []scenario.Fault {
	name := func() string { return fmt.Sprintf("cmp%d", victims[rng.Intn(len(victims))]+1) }
	pause := d(time.Duration(5+rng.Intn(85)) * time.Second)
	out := []scenario.Fault{{At: at, Pause: "on", For: pause}}
	if rng.Intn(3) == 0 {
		// Resumed by hand before the pause's own end, or paused twice.
		out = append(out, scenario.Fault{At: at + d(time.Duration(rng.Intn(int(pause/1e6)+1))*time.Millisecond), Pause: []string{"off", "on"}[rng.Intn(2)]})
	}
	fail := at + d(time.Duration(rng.Intn(40000)-10000)*time.Millisecond)
	if fail < 0 {
		fail = 0
	}
	out = append(out, scenario.Fault{At: fail, Power: "off", Host: name()})
	switch rng.Intn(4) {
	case 0:
		out = append(out, scenario.Fault{At: at + pause/2, Kill: "controller-leader"})
	case 1:
		h := name()
		out = append(out, scenario.Fault{At: at, Maintenance: "on", Host: h}, scenario.Fault{At: at + pause, Maintenance: "off", Host: h})
	}
	return out
}

// rejoins is the rejoin class: with w in 12, the manual rejoin policy, and
// 0–3 operator rejoins of each host a fault names, at random times.
func rejoins(rng *rand.Rand, s *scenario.Scenario, w int) {
	if rng.Intn(12) >= w {
		return
	}
	if s.Vigil == nil {
		s.Vigil = &scenario.Overrides{}
	}
	s.Vigil.Recovery.Rejoin = "manual"
	touched := map[string]bool{}
	for _, f := range s.Faults {
		for _, h := range []string{f.Host, f.Confirm, f.Release} {
			if h != "" {
				touched[h] = true
			}
		}
	}
	for _, h := range slices.Sorted(maps.Keys(touched)) {
		for k := rng.Intn(4); k > 0; k-- {
			s.Faults = append(s.Faults, scenario.Fault{At: d(time.Duration(10+rng.Intn(int(time.Duration(s.Duration)/time.Second)-20)) * time.Second), Rejoin: h})
		}
	}
}

func leader(rng *rand.Rand, at scenario.Duration) []scenario.Fault {
	switch rng.Intn(4) {
	case 0:
		return []scenario.Fault{{At: at, Kill: "controller-leader"}}
	case 1:
		return []scenario.Fault{{At: at, Stall: "controller-leader", For: d(time.Duration(200+rng.Intn(1700)) * time.Millisecond)}}
	case 2:
		return []scenario.Fault{{At: at, Stall: "controller-leader", For: d(time.Duration(2+rng.Intn(15)) * time.Second)}}
	}
	return []scenario.Fault{{At: at, Isolate: "controller-leader"}}
}

// truthful reports whether every operator confirm in s is the truth: its
// host lost power at or before the confirm and nothing in the schedule
// powers it on again (operators here never lie; a confirm of a running host
// would be the operator's double writer, not vigil's).
func truthful(s *scenario.Scenario) bool {
	for _, c := range s.Faults {
		if c.Confirm == "" {
			continue
		}
		off := false
		for _, f := range s.Faults {
			if f.Host != c.Confirm || f.Power == "" {
				continue
			}
			switch {
			case f.Power == "on" || (f.Power == "off" && f.For > 0):
				return false // powered on again at some point
			case f.Power == "off" && f.At <= c.At:
				off = true
			}
		}
		if !off {
			return false
		}
	}
	return true
}

// dropLies removes the confirms that truthful would reject.
func dropLies(s *scenario.Scenario) {
	keep := s.Faults[:0]
	for _, f := range s.Faults {
		if f.Confirm != "" {
			one := *s
			one.Faults = []scenario.Fault{f}
			for _, o := range s.Faults {
				if o.Confirm == "" {
					one.Faults = append(one.Faults, o)
				}
			}
			if !truthful(&one) {
				continue
			}
		}
		keep = append(keep, f)
	}
	s.Faults = keep
}
