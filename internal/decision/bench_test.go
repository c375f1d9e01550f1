//go:build unix

package decision

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The benchmarks model a 10,000-host cloud on two networks (mgmt, storage)
// with the default timings: every second each agent reports on both
// networks and one peer probes each host on each network; the controller
// reads the storage heartbeat file once; BMCs and Nova's service list are
// read for a tenth of the hosts (each host every 10 s).
//
//	go test -run '^$' -bench . -benchmem ./internal/decision/
//
// Besides wall-clock ns/op they report cpu-ns/op, the process's own CPU time
// (getrusage) per op: on a shared 2-core machine wall time also counts the
// time other processes held the CPU.
const benchHosts = 10000

// cpuTime is the CPU time this process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchName(i int) string { return fmt.Sprintf("cmp%05d", i) }

func benchEngine(tb testing.TB, n int) *Engine {
	tb.Helper()
	e, err := New(DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		e.AddHost(HostInfo{Name: benchName(i), Domain: fmt.Sprintf("rack%03d", i/40)})
	}
	e.Step(epoch, Leadership{Leader: true})
	return e
}

// benchTraffic is one second of observations for hosts [0, n), skipping the
// silent ones, with storage counters at value sec.
func benchTraffic(n, sec int, silent map[int]bool, self func(i int) SelfReport) []Input {
	var ins []Input
	counters := make(map[string]uint64, n)
	for i := 0; i < n; i++ {
		if silent[i] {
			continue
		}
		name := benchName(i)
		s := self(i)
		peer := benchName((i + 1) % n)
		ins = append(ins,
			AgentReport{Host: name, Network: "mgmt", Self: s},
			AgentReport{Host: name, Network: "storage", Self: s},
			PeerReport{Observer: peer, Host: name, Network: "mgmt", Reachable: true},
			PeerReport{Observer: peer, Host: name, Network: "storage", Reachable: true})
		counters[name] = uint64(sec)
		if (i+sec)%10 == 0 {
			ins = append(ins,
				BMCReading{Host: name, Power: PowerOn},
				NovaService{Host: name, Up: true, Instances: s.Domains})
		}
	}
	return append(ins, StorageHeartbeats{OK: true, Counters: counters})
}

func healthySelf(i int) SelfReport {
	return SelfReport{BootID: "b1", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true},
		Domains: []string{fmt.Sprintf("vm%05da", i), fmt.Sprintf("vm%05db", i)}}
}

// BenchmarkStep measures how many observations per second the engine
// absorbs: one op is one Step of the realistic mix above.
func BenchmarkStep(b *testing.B) {
	e := benchEngine(b, benchHosts)
	// Two seconds of traffic, so storage counters move between reads.
	secs := [][]Input{benchTraffic(benchHosts, 1, nil, healthySelf), benchTraffic(benchHosts, 2, nil, healthySelf)}
	now := epoch
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i, s, j := 0, 0, 0; i < b.N; i++ {
		if j == len(secs[s]) {
			j, s = 0, 1-s
			now = now.Add(time.Second)
		}
		e.Step(now, secs[s][j])
		j++
	}
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "obs/cpu-s")
	b.ReportMetric(float64(len(secs[0])), "obs/cluster-second")
}

// BenchmarkTick10k measures one full evaluation of 10,000 hosts: the
// decision latency the controller adds every tick.
// BenchmarkGrant is the controller's answer to one agent report: Step plus
// Grant, the watchdog contract's per-report cost (10,000 hosts on two
// networks report once a second: 20,000 of these per second).
func BenchmarkGrant(b *testing.B) {
	e := benchEngine(b, benchHosts)
	reps := make([]AgentReport, benchHosts)
	for i := range reps {
		reps[i] = AgentReport{Host: benchName(i), Network: "mgmt",
			Self: SelfReport{BootID: "b1", WatchdogArmed: true, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
	}
	now := epoch
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		r := reps[i%len(reps)]
		r.Self.Seq = uint64(i)
		if i%len(reps) == 0 {
			now = now.Add(time.Second)
		}
		e.Step(now, r)
		if _, err := e.Grant(now, r); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "grants/cpu-s")
}

func BenchmarkTick10k(b *testing.B) {
	for _, bc := range []struct {
		name   string
		silent int  // hosts that died
		rack   bool // the dead are one rack (consecutive hosts), else spread
		sick   int  // hosts with nova-compute down (service-degraded)
	}{
		{"all-healthy", 0, false, 0},
		{"2-dead", 2, false, 4},          // fenced in parallel: fencing, fence in flight
		{"6-dead-brake", 6, false, 4},    // more than brake_max_hosts: held by the brake
		{"rack-down-brake", 40, true, 4}, // a top-of-rack switch: 40 hosts held
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEngine(b, benchHosts)
			silent := map[int]bool{}
			for k := 0; k < bc.silent; k++ {
				if bc.rack {
					silent[400+k] = true
				} else {
					silent[17+k*1601] = true
				}
			}
			self := func(i int) SelfReport {
				s := healthySelf(i)
				if i%2503 == 5 && i/2503 < bc.sick {
					s.NovaCompute.Running = false
				}
				return s
			}
			// Twenty seconds of life: everyone heard, then the dead go
			// silent at t=12s and are judged after dead_after.
			now := epoch
			for sec := 1; sec <= 20; sec++ {
				now = epoch.Add(time.Duration(sec) * time.Second)
				dead := silent
				if sec <= 12 {
					dead = nil
				}
				for _, in := range benchTraffic(benchHosts, sec, dead, self) {
					e.Step(now, in)
				}
				e.Tick(now)
			}
			counts := map[State]int{}
			for _, s := range e.Status() {
				counts[s.State]++
			}
			b.Logf("states at t=20s: %v", counts)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for i := 0; i < b.N; i++ {
				e.Tick(now)
			}
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchHosts, "ns/host")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/benchHosts, "cpu-ns/host")
		})
	}
}

// BenchmarkMemory10k measures the engine's live heap for 10,000 hosts after
// a minute of traffic: what the controller needs in memory for the decision
// core alone.
func BenchmarkMemory10k(b *testing.B) {
	var perHost float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e := benchEngine(b, benchHosts)
		for sec := 1; sec <= 60; sec++ {
			now := epoch.Add(time.Duration(sec) * time.Second)
			for _, in := range benchTraffic(benchHosts, sec, nil, healthySelf) {
				e.Step(now, in)
			}
			e.Tick(now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perHost = float64(after.HeapAlloc-before.HeapAlloc) / benchHosts
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perHost, "heap-B/host")
	b.ReportMetric(perHost*benchHosts/(1<<20), "heap-MiB/10k-hosts")
}
