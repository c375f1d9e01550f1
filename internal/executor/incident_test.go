package executor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/executor"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/devices"
	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// Patience for the real world. The engine's clock is fake and advances one
// second per round; these only stop a hung test (every driver has its own
// timeouts inside them).
const (
	fenceTimeout = 3 * time.Minute
	waitTimeout  = 20 * time.Second
)

// peer is the lab host that looks at the others: the fence probe pings
// from its namespace, and so do the checks.
const peer = 2

// guests are the instances Nova places on each host.
var guests = map[string][]string{"host0": {"web-1", "db-1"}, "host1": {"web-2"}, "host2": {"db-2"}}

type password bool

const (
	right password = true
	wrong password = false
)

// credentials say which of host0's two levels get the BMC's real password.
type credentials struct{ ipmi, agent password }

// incident is a controller loop for one test: a lab of three hosts behind
// ipmi_sim BMCs, the decision engine on a fake clock, and the executor
// fencing through topologies built from a YAML file, like vigil's would.
type incident struct {
	t     *testing.T
	lab   *netns.Lab
	bmcs  []*ipmisim.BMC
	cfg   config.Config
	topos executor.Topologies

	engine     *decision.Engine
	epoch, now time.Time
	beats      map[string]uint64          // each host's storage heartbeat counter
	stored     map[string]decision.Record // the store: written before any action
	events     []event                    // the timeline
}

// event is one line of the timeline: a note from the test, a transition, an
// action, or a fence result with its steps.
type event struct {
	at    time.Duration // on the fake clock, since the engine became leader
	note  string
	trans *decision.Transition
	act   *decision.Action
	fence *decision.FenceResult
	steps []fence.Step
	took  time.Duration // real time of the fence
	on    bool          // the action's host had processes when it was carried out or reported
}

// configTopologies builds each host's topology from the configuration on
// every call, as the controller does, so a fixed password file is used at
// the next fence.
type configTopologies struct {
	cfg  config.Config
	opts devices.Options
}

var _ executor.Topologies = configTopologies{}

func (c configTopologies) Topology(host string) (fence.Topology, error) {
	// Passwords come from password_file only.
	sec := devices.Secrets{Getenv: func(string) string { return "" }, ReadFile: os.ReadFile}
	return devices.Build(c.cfg, host, sec, c.opts, nil)
}

// newIncident starts the lab, writes the configuration (host0's levels
// with creds, the other hosts' with the right passwords), builds the engine
// from it and makes it leader at the epoch.
func newIncident(t *testing.T, creds credentials) *incident {
	t.Helper()
	lab, bmcs := ipmisim.LabT(t, netns.DefaultConfig(netns.UniquePrefix(t.Name())))
	in := &incident{t: t, lab: lab, bmcs: bmcs, beats: map[string]uint64{}, stored: map[string]decision.Record{},
		epoch: time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)}
	in.now = in.epoch
	t.Cleanup(func() { t.Logf("timeline:\n%s", in.timeline()) })
	in.cfg = in.writeConfig(creds)
	in.waitUp()
	in.topos = configTopologies{cfg: in.cfg, opts: devices.Options{Probe: true, ProbeWait: 5 * time.Second, Netns: lab.Host(peer).Namespace}}
	var err error
	if in.engine, err = decision.New(in.cfg.Decision()); err != nil {
		t.Fatal(err)
	}
	for _, h := range in.cfg.Hosts {
		topo, err := in.topos.Topology(h.Name)
		if err != nil {
			t.Fatal(err)
		}
		in.engine.AddHost(decision.HostInfo{Name: h.Name, Domain: h.Domain, FenceLevels: len(topo.Levels)})
	}
	in.engine.Step(in.now, decision.Leadership{Leader: true})
	return in
}

// writeConfig writes vigil.yaml: every host's BMC, storage address and two
// levels (ipmi, then fence_ipmilan over lanplus), passwords in files.
func (in *incident) writeConfig(creds credentials) config.Config {
	t := in.t
	dir := t.TempDir()
	secret := func(name string, pw password, i int) string {
		s := in.bmcs[i].Password()
		if !pw {
			s = "not-the-password"
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var b strings.Builder
	// The engine's timings, spelled out: they set the fake clock's story.
	b.WriteString("detection: {agent_timeout: 3s, storage_timeout: 4s, dead_after: 6s, failover_grace: 10s}\n")
	b.WriteString("recovery: {fence_retry: 5s, fence_retry_max: 60s}\n")
	b.WriteString("hosts:\n")
	for i, h := range in.lab.Hosts() {
		ipmiPW, agentPW := right, right
		if i == 0 {
			ipmiPW, agentPW = creds.ipmi, creds.agent
		}
		fmt.Fprintf(&b, "  - name: %s\n    bmc: {address: %s, port: %d}\n    storage_ips: [%s]\n    fencing:\n      levels:\n",
			h.Name, ipmisim.Address, in.bmcs[i].Port(), in.lab.Addr(i, "storage"))
		fmt.Fprintf(&b, "        - [{driver: ipmi, username: %s, password_file: %s, timeout: 60s}]\n",
			in.bmcs[i].Username(), secret(fmt.Sprintf("%s-ipmi.pass", h.Name), ipmiPW, i))
		fmt.Fprintf(&b, "        - [{driver: fence-agent, agent: fence_ipmilan, username: %s, password_file: %s, options: {lanplus: \"1\", cipher: \"3\"}, timeout: 90s}]\n",
			in.bmcs[i].Username(), secret(fmt.Sprintf("%s-agent.pass", h.Name), agentPW, i))
	}
	path := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load:\n%s\n%v", b.String(), err)
	}
	return cfg
}

// advance runs one round per second of the fake clock.
func (in *incident) advance(seconds int) {
	in.t.Helper()
	for range seconds {
		in.round()
	}
}

// runUntil runs rounds until done holds after one; it fails the test when
// max seconds of the engine's clock pass first.
func (in *incident) runUntil(what string, max int, done func() bool) {
	in.t.Helper()
	for range max {
		in.round()
		if done() {
			return
		}
	}
	in.t.Fatalf("%s: not within %d s of the engine's clock", what, max)
}

// round is one second of the controller: every host whose agent answers
// reports on both networks and moves its storage heartbeat, Nova is read,
// the engine ticks, its records are stored, and the executor carries out
// its fence actions for real and feeds the results back.
func (in *incident) round() {
	t := in.t
	t.Helper()
	in.now = in.now.Add(time.Second)
	counters := map[string]uint64{}
	for i, h := range in.lab.Hosts() {
		answers := in.answers(i)
		if answers {
			in.beats[h.Name]++
			for _, n := range in.cfg.Networks {
				in.engine.Step(in.now, decision.AgentReport{Host: h.Name, Network: n, Self: decision.SelfReport{
					BootID: "boot-1", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true},
					Domains: guests[h.Name]}})
			}
		}
		counters[h.Name] = in.beats[h.Name]
		// Nova is the weakest signal: it notices a silent host late.
		in.engine.Step(in.now, decision.NovaService{Host: h.Name, Up: true, Instances: guests[h.Name]})
	}
	in.engine.Step(in.now, decision.StorageHeartbeats{OK: true, Counters: counters})

	ready := in.engine.Tick(in.now)
	for _, tr := range ready.Transitions {
		in.events = append(in.events, event{at: tr.At.Sub(in.epoch), trans: &tr})
	}
	for _, r := range ready.Records {
		in.stored[r.Host] = r
	}
	for _, a := range ready.Actions {
		in.events = append(in.events, event{at: in.since(), act: &a, on: in.poweredOn(a.Host)})
		if a.Kind == decision.ActUnfence {
			// Recorded; these topologies hold no storage fence to lift
			// and power stays as it is: done, as the executor reports.
			in.engine.Step(in.now, decision.UnfenceResult{Host: a.Host, OK: true})
			continue
		}
		if a.Kind != decision.ActFence {
			continue // Nova and alerts are not in this loop: recorded only
		}
		ctx, cancel := context.WithTimeout(context.Background(), fenceTimeout)
		var steps []fence.Step
		start := time.Now()
		res := executor.Fence(ctx, in.topos, a, func(s fence.Step) { steps = append(steps, s) })
		took := time.Since(start)
		cancel()
		in.events = append(in.events, event{at: in.since(), fence: &res, steps: steps, took: took, on: in.poweredOn(a.Host)})
		in.engine.Step(in.now, res)
	}
}

func (in *incident) since() time.Duration { return in.now.Sub(in.epoch) }

// hang freezes host i as a stuck kernel looks to its agent: every process
// of the host is stopped (SIGSTOP), so nothing on it reports any more. It
// stays powered on and its links stay up. The engine is not fed the peers'
// probes here, so it judges by the agent and the storage heartbeat alone.
func (in *incident) hang(i int) {
	t := in.t
	t.Helper()
	ctx := context.Background()
	ns := in.lab.Host(i).Namespace
	pids, err := netns.Pids(ctx, ns)
	if err != nil || len(pids) == 0 {
		t.Fatalf("host%d processes %v, %v; want some to stop", i, pids, err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
	}
	tier.Eventually(t, waitTimeout, fmt.Sprintf("host%d stopped", i), func() error {
		if in.answers(i) {
			return errors.New("a process still runs")
		}
		return nil
	})
	if !in.poweredOn(in.lab.Host(i).Name) {
		t.Fatalf("host%d lost its processes when it was stopped", i)
	}
	in.events = append(in.events, event{at: in.since(), note: fmt.Sprintf("host%d hangs: processes stopped, still powered on", i)})
}

// answers reports whether host i's agent would answer: some process of its
// namespace runs. A powered-off host has none; a hung one only stopped ones.
func (in *incident) answers(i int) bool {
	pids, err := netns.Pids(context.Background(), in.lab.Host(i).Namespace)
	if err != nil {
		in.t.Fatal(err)
	}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		rest := stat[strings.LastIndexByte(string(stat), ')')+1:]
		if f := strings.Fields(string(rest)); len(f) > 0 && !strings.ContainsAny(f[0], "TtZX") {
			return true
		}
	}
	return false
}

// poweredOn reports whether the named lab host has processes (the truth the
// BMCs are judged against); false for anything that is not a lab host.
func (in *incident) poweredOn(host string) bool {
	for i, h := range in.lab.Hosts() {
		if h.Name == host {
			on, err := in.bmcs[i].PoweredOn(context.Background())
			if err != nil {
				in.t.Fatal(err)
			}
			return on
		}
	}
	return false
}

// waitUp waits until every host runs and the peer reaches it on every
// network: the fence probe needs a baseline of replies.
func (in *incident) waitUp() {
	ctx := context.Background()
	for i, h := range in.lab.Hosts() {
		tier.Eventually(in.t, waitTimeout, h.Name+" up", func() error {
			if !in.answers(i) {
				return errors.New("no running process")
			}
			for _, n := range in.cfg.Networks {
				if err := in.lab.Ping(ctx, peer, in.lab.Addr(i, n)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// checkHealthy fails the test unless the engine finds every host healthy.
func (in *incident) checkHealthy() {
	in.t.Helper()
	for _, st := range in.engine.Status() {
		if st.State != decision.Healthy {
			in.t.Fatalf("%s is %s (%s) after the quiet start, want healthy", st.Name, st.State, st.Rule)
		}
	}
}

// checkFenced fails the test unless host i has no process left and the
// peer cannot ping it on any network.
func (in *incident) checkFenced(i int) {
	t := in.t
	t.Helper()
	ctx := context.Background()
	if pids, err := netns.Pids(ctx, in.lab.Host(i).Namespace); err != nil || len(pids) > 0 {
		t.Errorf("fenced host%d has processes %v (%v), want none", i, pids, err)
	}
	for _, n := range in.cfg.Networks {
		if err := in.lab.Ping(ctx, peer, in.lab.Addr(i, n)); !errors.Is(err, netns.ErrNoReply) {
			t.Errorf("ping peer -> fenced host%d on %s = %v, want no reply", i, n, err)
		}
	}
}

// checkNotFenced fails the test unless host i still has its (stopped)
// processes and the peer still reaches it on every network.
func (in *incident) checkNotFenced(i int) {
	t := in.t
	t.Helper()
	ctx := context.Background()
	if !in.poweredOn(in.lab.Host(i).Name) {
		t.Errorf("host%d has no process left: something powered it off", i)
	}
	for _, n := range in.cfg.Networks {
		if err := in.lab.Ping(ctx, peer, in.lab.Addr(i, n)); err != nil {
			t.Errorf("ping peer -> host%d on %s = %v, want a reply (links untouched)", i, n, err)
		}
	}
}

// checkPeersUntouched fails the test if any action named a host other than
// host0, or a peer is down.
func (in *incident) checkPeersUntouched() {
	t := in.t
	t.Helper()
	for _, e := range in.events {
		if e.act != nil && e.act.Host != "host0" {
			t.Errorf("action %s on %s, want none on a healthy host", e.act, e.act.Host)
		}
	}
	for i := 1; i < len(in.bmcs); i++ {
		if !in.answers(i) {
			t.Errorf("host%d stopped running", i)
		}
	}
}

// emitted reports whether the engine has emitted an action of kind.
func (in *incident) emitted(kind decision.ActionKind) bool { return in.count(kind) > 0 }

func (in *incident) count(kind decision.ActionKind) int {
	n := 0
	for _, e := range in.events {
		if e.act != nil && e.act.Kind == kind {
			n++
		}
	}
	return n
}

// alerts counts the alerts with code.
func (in *incident) alerts(code string) int {
	n := 0
	for _, e := range in.events {
		if e.act != nil && e.act.Kind == decision.ActAlert && e.act.Code == code {
			n++
		}
	}
	return n
}

// alert returns the first alert with code.
func (in *incident) alert(code string) event {
	in.t.Helper()
	for _, e := range in.events {
		if e.act != nil && e.act.Kind == decision.ActAlert && e.act.Code == code {
			return e
		}
	}
	in.t.Fatalf("no alert %s", code)
	return event{}
}

// action returns the first action of kind.
func (in *incident) action(kind decision.ActionKind) event {
	in.t.Helper()
	for _, e := range in.events {
		if e.act != nil && e.act.Kind == kind {
			return e
		}
	}
	in.t.Fatalf("no %s action", kind)
	return event{}
}

// fenceResult returns the first fence result of level.
func (in *incident) fenceResult(level int) event {
	in.t.Helper()
	for _, e := range in.events {
		if e.fence != nil && e.fence.Level == level && e.fence.Aborted == decision.NotAborted {
			return e
		}
	}
	in.t.Fatalf("no fence result for level %d that went through", level)
	return event{}
}

// transitions returns the transitions by rule, in order.
func (in *incident) transitions(rule string) []decision.Transition {
	var out []decision.Transition
	for _, e := range in.events {
		if e.trans != nil && e.trans.Rule == rule {
			out = append(out, *e.trans)
		}
	}
	return out
}

// transition returns the first transition by rule, or nil.
func (in *incident) transition(rule string) *decision.Transition {
	if trs := in.transitions(rule); len(trs) > 0 {
		return &trs[0]
	}
	return nil
}

func (in *incident) status(host string) decision.HostStatus {
	sts := in.engine.Status()
	i := slices.IndexFunc(sts, func(s decision.HostStatus) bool { return s.Name == host })
	if i < 0 {
		in.t.Fatalf("no status for %s", host)
	}
	return sts[i]
}

// timeline is the whole incident in words, for the log.
func (in *incident) timeline() string {
	var b strings.Builder
	for _, e := range in.events {
		fmt.Fprintf(&b, "  %s\n", e.short())
		switch {
		case e.trans != nil:
			for _, ev := range e.trans.Evidence {
				fmt.Fprintf(&b, "        %s\n", ev)
			}
		case e.fence != nil:
			fmt.Fprintf(&b, "        %.2fs real: %s%s\n", e.took.Seconds(), e.fence.Err, e.fence.Proof)
			for _, s := range e.steps {
				fmt.Fprintf(&b, "        step level %d %s %s %.2fs %s err=%v\n", s.Level, s.Member, s.Op, s.Took.Seconds(), s.Detail, s.Err)
			}
		case e.act != nil && e.act.Reason != "":
			fmt.Fprintf(&b, "        %s\n", e.act.Reason)
		}
	}
	return b.String()
}
