package swarm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/child"
	"github.com/vigil-ha/vigil/internal/testbed/etcd"
	"github.com/vigil-ha/vigil/internal/testbed/swarm"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
	"github.com/vigil-ha/vigil/internal/testbed/vigilbin"
	"github.com/vigil-ha/vigil/internal/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(swarm.ShardEnv) == "1" {
		if err := swarm.Serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	vigilbin.Remove()
	os.Exit(code)
}

var networks = []string{"mgmt", "storage", "tenant"}

// BenchmarkController measures two `vigil controller` processes (leader
// and standby, on Debian's etcd) fed by a swarm of agents on the real
// transport: every host reports on three networks and sends a peer report on
// each once a second, and writes its storage heartbeat. For each size it
// reports the leader's CPU (cores) and RSS over a steady window, the
// agents' report-to-grant latency, and the takeover after the leader is
// SIGKILLed (first grant of the new term, and 99 % of hosts granted by it).
// Run it with make bench-scale; one iteration is one full measurement.
func BenchmarkController(b *testing.B) {
	tier.Integration(b, "etcd")
	for _, n := range sizes() {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			for b.Loop() {
				measure(b, n)
			}
		})
	}
}

// sizes is VIGIL_SCALE_HOSTS (comma-separated), default 1000 and 10000.
func sizes() []int {
	s := os.Getenv("VIGIL_SCALE_HOSTS")
	if s == "" {
		return []int{1000, 10000}
	}
	var v []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 1 {
			v = append(v, n)
		}
	}
	return v
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

type member struct {
	name  string
	api   string
	pprof string
	cmd   *exec.Cmd
	log   string
}

func measure(b *testing.B, hosts int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	es, err := etcd.Start(ctx, filepath.Join(dir, "etcd"))
	if err != nil {
		b.Fatal(err)
	}
	defer es.Stop()

	secret, err := wire.NewSecret(1)
	if err != nil {
		b.Fatal(err)
	}
	write(b, filepath.Join(dir, "cluster.secret"), string(wire.FormatSecrets([]wire.Secret{secret})))
	token := strings.Repeat("5ca1ab1e", 4)
	write(b, filepath.Join(dir, "reader.tokens"), "bench:"+token+"\n")
	write(b, filepath.Join(dir, "bmc.pass"), "unused\n")
	hbDir := filepath.Join(dir, "heartbeats")
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		// 10,000 files rewritten a second: on tmpfs, as a fast NFS
		// share would hold them, so the disk of this machine does not
		// decide the figure.
		hbDir, err = os.MkdirTemp("/dev/shm", "vigil-bench-hb-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(hbDir)
	} else if err := os.Mkdir(hbDir, 0o700); err != nil {
		b.Fatal(err)
	}

	ports := map[string]uint16{"mgmt": 7101, "storage": 7102, "tenant": 7103}
	members := []*member{{name: "c1", api: "127.0.0.1:" + freePort(b)}, {name: "c2", api: "127.0.0.1:" + freePort(b)}}
	ctls := map[string][]string{}
	listen := map[string][]string{}
	for _, n := range networks {
		for range members {
			a := "127.0.0.1:" + freeUDPPort(b)
			ctls[n] = append(ctls[n], a)
			listen[n] = append(listen[n], a)
		}
	}
	var y strings.Builder
	fmt.Fprintf(&y, "networks: [%s]\n", strings.Join(networks, ", "))
	fmt.Fprintf(&y, "fencing:\n  domains:\n    default:\n      levels:\n        - - {driver: ipmi, username: admin, password_file: %s}\nhosts:\n", filepath.Join(dir, "bmc.pass"))
	for i := range hosts {
		// No BMC answers there: the fence monitor's status calls fail
		// (its round runs every 5 minutes, 8 at a time), as a cloud
		// whose BMC network is down would.
		fmt.Fprintf(&y, "  - {name: %s, bmc: {address: 127.0.0.1, port: 9}}\n", swarm.Name(i))
	}
	lease := ""
	if l := os.Getenv("VIGIL_SCALE_LEASE"); l != "" {
		lease = ", lease_ttl: " + l // etcd.lease_ttl: the takeover after a crash waits it out
	}
	fmt.Fprintf(&y, "controller:\n  data_dir: %s\n  secrets: %s\n  heartbeat: {dir: %s}\n  api: {reader_tokens: %s}\n  etcd: {endpoints: [%s]%s}\n  members:\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "cluster.secret"), hbDir, filepath.Join(dir, "reader.tokens"), es.URL, lease)
	for i, m := range members {
		fmt.Fprintf(&y, "    - {name: %s, api: %q, listen: {", m.name, m.api)
		for j, n := range networks {
			if j > 0 {
				y.WriteString(", ")
			}
			fmt.Fprintf(&y, "%s: %q", n, listen[n][i])
		}
		y.WriteString("}}\n")
	}
	cfgFile := filepath.Join(dir, "vigil.yaml")
	write(b, cfgFile, y.String())

	bin := vigilbin.Path(b)
	start := func(m *member) {
		m.log = filepath.Join(dir, m.name+".log")
		f, err := os.Create(m.log)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		args := []string{"controller", "--config", cfgFile, "--name", m.name, "--without-nova"}
		if m.pprof != "" {
			args = append(args, "--pprof", m.pprof)
		}
		m.cmd = exec.Command(bin, args...)
		m.cmd.Stdout, m.cmd.Stderr = f, f
		if err := child.Start(m.cmd); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.cmd.Process.Kill(); _ = m.cmd.Wait() })
	}
	profDir := os.Getenv("VIGIL_SCALE_PROFILE")
	if profDir != "" {
		members[0].pprof = "127.0.0.1:" + freePort(b)
	}
	start(members[0])
	waitFor(b, 2*time.Minute, "c1 leads", func() bool { return leading(members[0]) })
	start(members[1])
	waitFor(b, time.Minute, "c2 answers", func() bool { _, ok := health(members[1]); return ok })

	// Each shard holds three sockets a host, within the 20,000 open
	// files a process may hold here.
	sw, err := swarm.Spawn(swarm.Config{Hosts: hosts, Networks: networks, Port: ports, Controllers: ctls,
		SecretsFile: filepath.Join(dir, "cluster.secret"), Interval: time.Second, Guests: 20, HeartbeatDir: hbDir},
		2500, []string{os.Args[0], "-test.run=^$"})
	if err != nil {
		b.Fatal(err)
	}
	defer sw.Close()
	newest := func() (uint64, swarm.Term) {
		m, err := sw.Terms()
		if err != nil {
			b.Fatal(err)
		}
		var tok uint64
		for k := range m {
			tok = max(tok, k)
		}
		return tok, m[tok]
	}

	// Warm up: every host granted, then the failover grace over.
	waitFor(b, 2*time.Minute, "every host granted", func() bool {
		_, t := newest()
		return t.Hosts >= hosts
	})
	time.Sleep(envDuration("VIGIL_SCALE_WARMUP", 15*time.Second))

	leader := members[0]
	pid := leader.cmd.Process.Pid
	window := envDuration("VIGIL_SCALE_WINDOW", 30*time.Second)
	if _, err := sw.Window(); err != nil {
		b.Fatal(err)
	}
	met0, udp0 := scrapeMetrics(b, leader, token), udpDrops(b)
	cpu0, t0 := cpuTime(b, pid), time.Now()
	swarm0 := fleetCPU(b, sw)
	if profDir != "" {
		go profile(b, leader, window-time.Second, filepath.Join(profDir, fmt.Sprintf("controller-%d.pprof", hosts)))
	}
	time.Sleep(window)
	cpu1, t1 := cpuTime(b, pid), time.Now()
	swarm1 := fleetCPU(b, sw)
	lat, err := sw.Window()
	if err != nil {
		b.Fatal(err)
	}
	met1, udp1 := scrapeMetrics(b, leader, token), udpDrops(b)
	rss, hwm := memory(b, pid)
	delta := func(k string) float64 { return met1[k] - met0[k] }
	ticks := delta("vigil_loop_tick_seconds_count")
	tickMean := 0.0
	if ticks > 0 {
		tickMean = delta("vigil_loop_tick_seconds_sum") / ticks
	}
	secs := t1.Sub(t0).Seconds()
	cores := (cpu1 - cpu0).Seconds() / secs
	swarmCores := (swarm1 - swarm0).Seconds() / secs
	grantRate := float64(lat.N) / secs

	// Takeover: the leader crashes.
	old, _ := newest()
	kill := time.Now()
	_ = leader.cmd.Process.Kill()
	_ = leader.cmd.Wait()
	var first, most time.Duration
	waitFor(b, 2*time.Minute, "the standby grants 99 % of hosts", func() bool {
		tok, t := newest()
		if tok <= old {
			return false
		}
		first = t.First.Sub(kill)
		if t.Hosts*100 >= hosts*99 {
			most = time.Since(kill)
			return true
		}
		return false
	})
	p50, p99 := lat.Quantile(0.5), lat.Quantile(0.99)

	b.ReportMetric(cores, "leader-cores")
	b.ReportMetric(float64(rss)/(1<<20), "leader-RSS-MiB")
	b.ReportMetric(float64(hwm)/(1<<20), "leader-peak-RSS-MiB")
	b.ReportMetric(float64(p50)/1e6, "p50-ms")
	b.ReportMetric(float64(p99)/1e6, "p99-ms")
	b.ReportMetric(first.Seconds(), "takeover-first-s")
	b.ReportMetric(most.Seconds(), "takeover-99%-s")
	b.ReportMetric(grantRate, "grants/s")
	b.ReportMetric(swarmCores, "swarm-cores")
	b.ReportMetric(delta(`vigil_agent_packets_total{result="taken"}`)/secs, "taken/s")
	b.ReportMetric(delta(`vigil_agent_packets_total{result="ungranted"}`)/secs, "ungranted/s")
	b.ReportMetric(float64(udp1-udp0)/secs, "udp-drops/s")
	b.ReportMetric(tickMean*1e3, "tick-mean-ms")
	b.Logf("leader's transport over the window: taken %.0f/s, ungranted %.0f/s, grants sent %.0f/s; UDP receive-buffer drops on this machine %.0f/s; %d loop ticks, mean %.1f ms, %.0f within 10 ms, %.0f over 100 ms",
		delta(`vigil_agent_packets_total{result="taken"}`)/secs, delta(`vigil_agent_packets_total{result="ungranted"}`)/secs,
		delta(`vigil_agent_sent_total{kind="grant"}`)/secs, float64(udp1-udp0)/secs, int(ticks), tickMean*1e3,
		delta(`vigil_loop_tick_seconds_bucket{le="0.01"}`), ticks-delta(`vigil_loop_tick_seconds_bucket{le="0.1"}`))
	b.Logf("%d hosts × %d networks, 1 s interval, over %v: leader %.2f cores, RSS %.0f MiB (peak %.0f); report→grant p50 %v p99 %v max %v (%d grants, %.0f/s); the swarm itself %.2f cores; leader SIGKILLed: first grant of the new term after %v, 99 %% of hosts after %v",
		hosts, len(networks), window, cores, float64(rss)/(1<<20), float64(hwm)/(1<<20), p50, p99, time.Duration(lat.Max), lat.N, grantRate, swarmCores, first.Round(10*time.Millisecond), most.Round(10*time.Millisecond))
}

func health(m *member) (h struct {
	OK      bool `json:"ok"`
	Leading bool `json:"leading"`
}, ok bool) {
	c := http.Client{Timeout: 2 * time.Second}
	r, err := c.Get("http://" + m.api + "/healthz")
	if err != nil {
		return h, false
	}
	defer r.Body.Close()
	return h, json.NewDecoder(r.Body).Decode(&h) == nil && h.OK
}

func leading(m *member) bool { h, ok := health(m); return ok && h.Leading }

// scrapeMetrics reads m's /metrics: every sample by its name and labels.
func scrapeMetrics(b *testing.B, m *member, token string) map[string]float64 {
	req, err := http.NewRequest("GET", "http://"+m.api+"/metrics", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := http.Client{Timeout: 10 * time.Second}
	r, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// udpDrops is this network namespace's UDP receive-buffer drops so far
// (/proc/net/snmp RcvbufErrors): every socket of the bench's.
func udpDrops(b *testing.B) int64 {
	s, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		b.Fatal(err)
	}
	var head []string
	for _, line := range strings.Split(string(s), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

// profile saves m's CPU profile over d to path (VIGIL_SCALE_PROFILE=DIR;
// read it with go tool pprof).
func profile(b *testing.B, m *member, d time.Duration, path string) {
	c := http.Client{Timeout: d + 10*time.Second}
	r, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", m.pprof, int(d.Seconds())))
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	defer r.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Logf("profile: %v", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, r.Body)
}

func waitFor(b *testing.B, within time.Duration, what string, cond func() bool) {
	b.Helper()
	end := time.Now().Add(within)
	for !cond() {
		if time.Now().After(end) {
			b.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cpuTime(b *testing.B, pid int) time.Duration {
	d, err := swarm.ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func fleetCPU(b *testing.B, f *swarm.Fleet) time.Duration {
	d, err := f.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// memory is pid's resident set now and at its peak (/proc/PID/status).
func memory(b *testing.B, pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

func write(b *testing.B, path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		b.Fatal(err)
	}
}

func freePort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func freeUDPPort(b *testing.B) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}
