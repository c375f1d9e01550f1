package executor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// bmc is an in-memory fence device for the executor's logic; the drivers
// are tested against real BMCs in their own packages.
type bmc struct {
	driver string
	err    error
	off    bool
}

func (b *bmc) Off(context.Context) (fence.Proof, error) {
	if b.err != nil {
		return fence.Proof{}, b.err
	}
	b.off = true
	return fence.Proof{Driver: b.driver, Detail: "verified off"}, nil
}
func (b *bmc) On(context.Context) error                     { b.off = false; return nil }
func (b *bmc) Status(context.Context) (fence.Status, error) { return fence.StatusOn, nil }

type topos map[string]fence.Topology

func (t topos) Topology(host string) (fence.Topology, error) {
	topo, ok := t[host]
	if !ok {
		return fence.Topology{}, fmt.Errorf("no topology for %s", host)
	}
	return topo, nil
}

// An engine and the executor, closing the loop: a BMC with a wrong password
// fails level 1, the engine falls to level 2 (the blocklist), which fences,
// and only then is anything evacuated.
func TestEngineAndExecutorFallBackThenEvacuate(t *testing.T) {
	ipmiDev := &bmc{driver: "ipmi", err: fmt.Errorf("login: %w", fence.ErrAuth)}
	ceph := &bmc{driver: "ceph-blocklist"}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{
		{{Name: "ipmi 10.0.0.11:623", Driver: "ipmi", Device: ipmiDev}},
		{{Name: "ceph-blocklist", Driver: "ceph-blocklist", Device: ceph}},
	}}}
	cfg := decision.DefaultConfig()
	cfg.FenceLevels = 2
	e, err := decision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(decision.HostInfo{Name: h})
	}
	e.Step(epoch, decision.Leadership{Leader: true})
	var log []string
	for sec := 1; sec <= 40; sec++ {
		now := epoch.Add(time.Duration(sec) * time.Second)
		e.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": 5, "cmp2": uint64(sec), "cmp3": uint64(sec)}})
		for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
			if h == "cmp1" && sec > 5 {
				continue // cmp1 dies at 5 s
			}
			for _, n := range cfg.Networks {
				e.Step(now, decision.AgentReport{Host: h, Network: n, Self: decision.SelfReport{NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
			}
			e.Step(now, decision.NovaService{Host: h, Up: true, Instances: []string{h + "-vm"}})
		}
		for _, a := range e.Tick(now).Actions {
			switch a.Kind {
			case decision.ActFence:
				r := Fence(context.Background(), ts, a, nil)
				log = append(log, fmt.Sprintf("fence level %d ok=%v %s", r.Level, r.OK, r.Err+r.Proof))
				e.Step(now, r)
			case decision.ActEvacuate:
				if !ceph.off {
					t.Fatalf("evacuate %v before any fence took effect", a.Instances)
				}
				log = append(log, "evacuate "+strings.Join(a.Instances, ","))
			}
		}
	}
	want := []string{
		"fence level 1 ok=false ipmi 10.0.0.11:623: login: fence: authentication failed",
		"fence level 2 ok=true ceph-blocklist: verified off",
		"evacuate cmp1-vm",
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

func TestFenceReportsUnknownHostAndLevel(t *testing.T) {
	r := Fence(context.Background(), topos{}, decision.Action{Kind: decision.ActFence, Host: "cmp9", Level: 1}, nil)
	if r.OK || !strings.Contains(r.Err, "cmp9") {
		t.Errorf("unknown host: %+v", r)
	}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "x", Device: &bmc{}}}}}}
	r = Fence(context.Background(), ts, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 3}, nil)
	if r.OK || !strings.Contains(r.Err, "no level 3") {
		t.Errorf("missing level: %+v", r)
	}
}

// prober answers with a fixed verdict.
type prober bool

func (p prober) Answers(context.Context) (bool, string, error) {
	return bool(p), "10.0.1.11 echo reply", nil
}

// A fence with ProbeAborts stops before the power-off when the host
// answers, and the device is never called; without it (a host that only
// answers ping) the fence goes through.
func TestFenceProbeAbortsBeforePowerOff(t *testing.T) {
	for _, tc := range []struct {
		name        string
		probeAborts bool
		answers     prober
		wantOff     bool
		wantAbort   decision.FenceAbort
	}{
		{"host answers: aborted", true, true, false, decision.AbortHostAnswers},
		{"host silent: fenced", true, false, true, decision.NotAborted},
		{"second decision: a ping answer alone does not abort", false, true, true, decision.NotAborted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := &bmc{driver: "ipmi"}
			ts := topos{"cmp1": {Host: "cmp1", Probe: tc.answers, ProbeWait: time.Millisecond,
				Levels: [][]fence.Member{{{Name: "ipmi", Driver: "ipmi", Device: dev, Power: true}}}}}
			a := decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1, ProbeAborts: tc.probeAborts}
			res := Fence(context.Background(), ts, a, nil)
			if res.Aborted != tc.wantAbort || dev.off != tc.wantOff {
				t.Fatalf("aborted %v, device off %v; want %v, %v (%+v)", res.Aborted, dev.off, tc.wantAbort, tc.wantOff, res)
			}
			if tc.wantAbort != decision.NotAborted && res.OK {
				t.Fatalf("an aborted fence reported OK: %+v", res)
			}
		})
	}
}

// renewing is a storage fence whose proof Renew replaces.
type renewing struct {
	bmc
	renewed int
}

func (r *renewing) Renew(_ context.Context, p fence.Proof) (fence.Proof, error) {
	if p.Blocklist == nil {
		return p, fence.ErrNotMine
	}
	r.renewed++
	np := p
	np.Detail = fmt.Sprintf("renewed %d", r.renewed)
	return np, nil
}

// Renew is one refresh of a host's record: renewable proofs are replaced,
// others (the power proof) come back as they were.
func TestRenewRefreshesRenewableProofs(t *testing.T) {
	dev := &renewing{bmc: bmc{driver: "ceph-blocklist"}}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "ceph", Driver: "ceph-blocklist", Device: dev}}}}}
	proofs := []fence.Proof{
		{Driver: "ipmi", Detail: "off"},
		{Driver: "ceph-blocklist", Detail: "fenced", Blocklist: &fence.BlocklistProof{Host: "cmp1"}},
	}
	got, err := Renew(context.Background(), ts, "cmp1", proofs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Detail != "off" || got[1].Detail != "renewed 1" || proofs[1].Detail != "fenced" {
		t.Errorf("Renew = %+v (input now %+v), want the blocklist proof replaced and the input untouched", got, proofs)
	}
	if _, err := Renew(context.Background(), ts, "cmp9", proofs); err == nil {
		t.Error("Renew of an unknown host: nil error")
	}
}

// A fence agent's kind reaches the engine in the method: fence_scsi is a
// storage fence, which the host's BMC reading on, or its agent answering,
// must not undo; fence_ifmib cuts I/O and is neither.
func TestFenceMethodNamesAgentKind(t *testing.T) {
	for _, tc := range []struct {
		level []fence.Member
		want  string
	}{
		{[]fence.Member{{Driver: "fence-agent", Power: true}}, "fence-agent"},
		{[]fence.Member{{Driver: "kdump"}, {Driver: "fence-agent", Storage: true}}, "kdump+fence-agent-storage"},
		{[]fence.Member{{Driver: "fence-agent"}}, "fence-agent-io"},
		{[]fence.Member{{Driver: "ceph-blocklist", Storage: true}, {Driver: "ipmi", Power: true}}, "ceph-blocklist+ipmi"},
	} {
		if got := LevelMethod(tc.level); got != tc.want {
			t.Errorf("LevelMethod(%+v) = %q, want %q", tc.level, got, tc.want)
		}
	}
}
