package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"

	"github.com/vigil-ha/vigil/internal/fence"
)

// attack21: Check, the fence re-read before each evacuate call, must not
// say "held" where the engine, reading the same devices, says the fence no
// longer holds.
//
// A host with two power supplies on two PDUs is fenced by a level of two
// power members (every member of a level must fence and verify). Someone
// switches one outlet back on: the host runs on that feed. PowerWatch's
// readPower reads the level "on" (one live feed runs the host), and the
// engine's fenceUndone takes a BMC reading on after the fence as the fence
// undone. Check, right before the evacuate call, finds the other outlet off
// and answers held: the evacuation goes out while the host runs.
func TestAttack21CheckDualFeedOneOutletOnIsNotHeld(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	dev := func(name string, st fence.Status, err error) gated {
		return gated{name: name, mu: &mu, calls: &calls, status: st, err: err}
	}
	pdu := func(name string, d fence.Device) fence.Member {
		return fence.Member{Name: name, Driver: "fence-agent", Device: d, Power: true}
	}
	down := fmt.Errorf("no answer: %w", fence.ErrUnreachable)
	for _, tc := range []struct {
		name string
		a, b gated
	}{
		{"outlet B switched on again", dev("a", fence.StatusOff, nil), dev("b", fence.StatusOn, nil)},
		{"outlet A switched on again", dev("a", fence.StatusOn, nil), dev("b", fence.StatusOff, nil)},
		{"outlet B unreadable", dev("a", fence.StatusOff, nil), dev("b", 0, down)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level := []fence.Member{pdu("fence_apc pdu-a", tc.a), pdu("fence_apc pdu-b", tc.b)}
			ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{level}}}
			used := LevelMethod(level) // the method the fence reported: "fence-agent+fence-agent"
			power := readPower(context.Background(), level, nil)
			held, lifted, why := Check(context.Background(), ts, "cmp1", used)
			t.Logf("PowerWatch reads the level %s; Check: held %v lifted %v (%s)", power, held, lifted, why)
			if held {
				t.Errorf("Check says the %s fence holds (%s) while PowerWatch reads the same level %s: an evacuation would go out while a feed runs the host", used, why, power)
			}
		})
	}
}

// The same for a level of a power fence and a blocklist: the engine takes
// "ipmi+ceph-blocklist" for a power fence (powerFence), so the BMC reading
// on after it is the fence undone (fenceUndone); Check finds the blocklist
// entry in place and answers held.
func TestAttack21CheckPowerPlusBlocklistBMCOnIsNotHeld(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	bmc := gated{name: "bmc", mu: &mu, calls: &calls, status: fence.StatusOn}
	bl := gated{name: "bl", mu: &mu, calls: &calls, status: fence.StatusOff}
	level := []fence.Member{power("ipmi 10.0.0.11", bmc), {Name: "ceph-blocklist", Driver: "ceph-blocklist", Device: bl, Storage: true}}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{level}}}
	used := LevelMethod(level)
	held, _, why := Check(context.Background(), ts, "cmp1", used)
	if held && !strings.Contains(why, "ipmi") {
		t.Errorf("Check says the %s fence holds (%s) while the BMC reads the power on: the engine's rule for this method calls that the fence undone", used, why)
	}
}

// straddling is a power device whose status read, once held, takes the
// state at the moment it is asked and answers only when released: a slow
// BMC session (ipmitool over lanplus on an old BMC, a fence agent's
// process) that began before the power-off.
type straddling struct {
	mu      sync.Mutex
	on      bool
	hold    bool
	started chan struct{}
	release chan struct{}
}

func (s *straddling) Off(context.Context) (fence.Proof, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	return fence.Proof{Driver: "ipmi", Detail: "chassis power read back off"}, nil
}
func (s *straddling) On(context.Context) error { return nil }
func (s *straddling) Status(context.Context) (fence.Status, error) {
	s.mu.Lock()
	v, h := s.on, s.hold
	s.mu.Unlock()
	if h {
		s.started <- struct{}{}
		<-s.release
	}
	if v {
		return fence.StatusOn, nil
	}
	return fence.StatusOff, nil
}

// attack21: the daemon's PowerWatch reads in parallel (up to ReadTimeout,
// 10 s), outside the device's Slot, and a BMCReading carries no time of
// reading: the engine stamps it when it arrives. A read of a hung host's
// BMC that began just before the fence's power-off answers "on" after the
// fence was verified, and the engine takes it for the fence undone
// (fenceUndone: "the BMC reads the power on again after the fence"): it
// stops the recovery and waits for a rejoin that an off host never makes.
func TestAttack21PowerReadBegunBeforeTheFenceIsNotAnUndoneFence(t *testing.T) {
	dev := &straddling{on: true, started: make(chan struct{}, 1), release: make(chan struct{})}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "ipmi", Driver: "ipmi", Power: true, Device: dev}}}}}
	cfg := decision.DefaultConfig()
	e, err := decision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"cmp1", "cmp2", "cmp3"}
	for _, h := range hosts {
		e.AddHost(decision.HostInfo{Name: h})
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(epoch, decision.Leadership{Leader: true, Token: 1})
	readings := make(chan decision.BMCReading, 16)
	pw := &PowerWatch{Topos: ts, Parallel: true, Report: func(r decision.BMCReading) { readings <- r }}
	const hangAt = 20 * time.Second // the kernel hangs: power on, silent
	var pending *decision.Action
	var fencedAt time.Duration
	var codes []string
	evacuated := false
	for at := 250 * time.Millisecond; at < 300*time.Second; at += 250 * time.Millisecond {
		now := epoch.Add(at)
		for _, h := range hosts {
			if h == "cmp1" && at >= hangAt {
				continue
			}
			if at%time.Second == 0 {
				for _, n := range cfg.Networks {
					e.Step(now, decision.AgentReport{Host: h, Network: n, Self: decision.SelfReport{BootID: "b", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
				}
			}
		}
		if at%time.Second == 0 {
			c1 := uint64(min(at, hangAt) / time.Second)
			e.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
			for _, h := range hosts {
				e.Step(now, decision.NovaService{Host: h, Up: h != "cmp1" || at < hangAt+10*time.Second, Instances: []string{h + "-vm"}})
			}
		}
		pw.Round(context.Background(), now, e.Status())
	drain:
		for {
			select {
			case r := <-readings:
				e.Step(now, r)
			default:
				break drain
			}
		}
		rd := e.Tick(now)
		e.Step(now, decision.Persisted{Ready: rd.Seq})
		for _, tr := range rd.Transitions {
			if tr.Host == "cmp1" {
				t.Logf("%v cmp1 %s -> %s [%s]", at, tr.From, tr.To, tr.Rule)
			}
		}
		for _, a := range rd.Actions {
			if a.Host == "cmp1" && a.Kind != decision.ActAlert {
				t.Logf("%v cmp1 action %s", at, a.String())
			}
			switch a.Kind {
			case decision.ActFence:
				a := a
				pending = &a
				dev.mu.Lock()
				dev.hold = true // the next read of cmp1's BMC is a slow one
				dev.mu.Unlock()
			case decision.ActEvacuate:
				evacuated = true
				for _, in := range a.Instances {
					e.Step(now, decision.EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true, Target: "cmp2", Placed: "cmp2", Status: "ACTIVE"})
				}
			case decision.ActAlert:
				codes = append(codes, fmt.Sprintf("%v %s", at, a.Code))
			}
		}
		if pending != nil {
			select {
			case <-dev.started: // a read is under way, begun while the power was on
				res, _ := FenceTarget(context.Background(), ts, *pending, fence.Target{}, nil)
				e.Step(now, res)
				fencedAt, pending = at, nil
				dev.mu.Lock()
				dev.hold = false
				dev.mu.Unlock()
				close(dev.release) // the slow read answers now: what it read before the power-off
			default:
			}
		}
		time.Sleep(time.Millisecond) // lets the read's goroutine hand its reading over before the next step (test pacing only)
	}
	t.Logf("fenced at %v; alerts %v; evacuated %v", fencedAt, codes, evacuated)
	for _, c := range codes {
		if strings.HasSuffix(c, " fence-undone") {
			t.Errorf("alert %q: a BMC read begun before the power-off, answered after the fence, was taken for the fence undone", c)
		}
	}
	if fencedAt == 0 {
		t.Fatal("cmp1 was never fenced")
	}
}

// attack21: a host's actions run one after another whatever their kind,
// and Nova's run synchronously in that queue (Nova.Do returns when every
// instance is done). So a fence of cmp1 waits for cmp1's re-enable while
// Nova hangs (30 s a call, 3 retries), and an alert about cmp1 waits for
// both: the operator hears of cmp1 only once Nova answers.
func TestAttack21FenceAndAlertWaitBehindAHungNovaCall(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	dev := gated{name: "cmp1", mu: &mu, calls: &calls}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi", dev)}}}}
	gate := make(chan struct{})
	nv := hungNova{gate: gate}
	res := newResults()
	alerted := make(chan string, 4)
	d := &Dispatch{Topos: ts, Nova: nv, Report: res.add, Alert: func(a decision.Action) { alerted <- a.Code }}
	ctx := context.Background()
	d.Execute(ctx, decision.Action{Kind: decision.ActReEnable, Host: "cmp1", Rule: "clean-rejoin"})
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1, Rule: "fence-before-recovery"})
	d.Execute(ctx, decision.Action{Kind: decision.ActAlert, Host: "cmp1", Code: "fence-failed"})
	select {
	case <-res.got:
	case <-time.After(200 * time.Millisecond): // a bound: the fence needs no Nova
	}
	select {
	case c := <-alerted:
		t.Logf("alert %s out", c)
	case <-time.After(100 * time.Millisecond):
	}
	mu.Lock()
	n := len(calls)
	mu.Unlock()
	close(gate)
	d.Wait()
	if n == 0 {
		t.Errorf("while Nova hangs on cmp1's re-enable, cmp1's fence never reached its BMC (and its alert waited too): a fence waits for Nova")
	}
}

type hungNova struct{ gate chan struct{} }

func (n hungNova) Do(context.Context, decision.Action) []decision.Input { <-n.gate; return nil }
