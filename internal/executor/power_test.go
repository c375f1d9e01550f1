package executor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// switchable is an in-memory power device (the drivers' Status is tested
// against real BMCs in their packages): it reads what it was set to.
type switchable struct {
	on    bool
	reads int
}

func (s *switchable) Off(context.Context) (fence.Proof, error) {
	s.on = false
	return fence.Proof{Driver: "ipmi", Detail: "chassis power read back off"}, nil
}
func (s *switchable) On(context.Context) error { s.on = true; return nil }
func (s *switchable) Status(context.Context) (fence.Status, error) {
	s.reads++
	if s.on {
		return fence.StatusOn, nil
	}
	return fence.StatusOff, nil
}

// A power fence is read again while its incident is open, at most once per
// Every: a host that someone powers on after all its guests moved is an
// alert, never silence.
func TestPowerWatchTurnsAPowerOnIntoAnAlert(t *testing.T) {
	dev := &switchable{on: true}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{{Name: "ipmi", Driver: "ipmi", Power: true, Device: dev}}}}}
	cfg := decision.DefaultConfig()
	e, err := decision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(decision.HostInfo{Name: h})
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(epoch, decision.Leadership{Leader: true, Token: 1})
	pw := &PowerWatch{Topos: ts, Fenced: 10 * time.Second, Report: func(r decision.BMCReading) { e.Step(epoch, r) }}
	var alerts []string
	for sec := 1; sec < 120; sec++ {
		now := epoch.Add(time.Duration(sec) * time.Second)
		pw.Report = func(r decision.BMCReading) { e.Step(now, r) }
		for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
			if h == "cmp1" && sec >= 5 {
				continue
			}
			for _, n := range cfg.Networks {
				e.Step(now, decision.AgentReport{Host: h, Network: n, Self: decision.SelfReport{BootID: "b", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
			}
			e.Step(now, decision.NovaService{Host: h, Up: true, Instances: []string{h + "-vm"}})
		}
		if sec >= 5 {
			e.Step(now, decision.NovaService{Host: "cmp1", Up: false})
		}
		e.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": min(uint64(sec), 5), "cmp2": uint64(sec), "cmp3": uint64(sec)}})
		if sec == 80 {
			dev.on = true // someone powers it on; its agent does not come back
		}
		pw.Round(context.Background(), now, e.Status())
		rd := e.Tick(now)
		e.Step(now, decision.Persisted{Ready: rd.Seq})
		for _, a := range rd.Actions {
			switch a.Kind {
			case decision.ActFence:
				res, _ := FenceTarget(context.Background(), ts, a, fence.Target{}, nil)
				e.Step(now, res)
			case decision.ActEvacuate:
				for _, in := range a.Instances {
					e.Step(now, decision.EvacuateResult{Host: a.Host, Instance: in, OK: true, Accepted: true, Target: "cmp2", Placed: "cmp2", Status: "ACTIVE"})
				}
			case decision.ActAlert:
				alerts = append(alerts, fmt.Sprintf("%ds %s", sec, a.Code))
			}
		}
	}
	found := false
	for _, a := range alerts {
		var sec int
		var code string
		if _, err := fmt.Sscanf(a, "%ds %s", &sec, &code); err == nil && code == "fence-power-on" && sec >= 80 && sec <= 90 {
			found = true
		}
	}
	if !found {
		t.Errorf("alerts %v, want fence-power-on soon after 80 s", alerts)
	}
	// Read every SuspectEvery until fenced, then once per Fenced while
	// the incident is open, not every second.
	if dev.reads > 16 {
		t.Errorf("the BMC was read %d times in about 110 s of incident, want a few while suspect, then at most one per 10 s", dev.reads)
	}
}

// A host that loses its power goes silent on every path; its BMC, read
// because the host turned suspect, says off, and the host is failed at
// agent_timeout (3 s), not at dead_after (6 s). Without the suspect's read
// (before PowerEvery) it waited dead_after.
func TestPowerWatchFailsAPowerLossAtAgentTimeout(t *testing.T) {
	dev := &switchable{on: true}
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
	pw := &PowerWatch{Topos: ts}
	const lossAt = 20 * time.Second
	var failedAt time.Duration
	for at := 250 * time.Millisecond; at < 40*time.Second && failedAt == 0; at += 250 * time.Millisecond {
		now := epoch.Add(at)
		pw.Report = func(r decision.BMCReading) { e.Step(now, r) }
		if at == lossAt {
			dev.on = false
		}
		for _, h := range hosts {
			if h == "cmp1" && at >= lossAt {
				continue
			}
			if at%time.Second == 0 {
				for _, n := range cfg.Networks {
					e.Step(now, decision.AgentReport{Host: h, Network: n, Self: decision.SelfReport{BootID: "b", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
				}
			}
		}
		if at%time.Second == 0 {
			c1 := uint64(at / time.Second)
			if at >= lossAt {
				c1 = uint64(lossAt / time.Second)
			}
			e.Step(now, decision.StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": c1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		}
		pw.Round(context.Background(), now, e.Status())
		rd := e.Tick(now)
		e.Step(now, decision.Persisted{Ready: rd.Seq})
		for _, tr := range rd.Transitions {
			if tr.Host == "cmp1" && tr.To == decision.Failed {
				failedAt = at - lossAt
				if tr.Rule != "power-off-and-silent" {
					t.Errorf("cmp1 failed by %s; want power-off-and-silent", tr.Rule)
				}
			}
		}
	}
	if failedAt == 0 || failedAt > cfg.AgentTimeout+SuspectEvery {
		t.Fatalf("cmp1 failed %v after its power loss; want within agent_timeout + one suspect read (%v), not dead_after (%v)",
			failedAt, cfg.AgentTimeout+SuspectEvery, cfg.DeadAfter)
	}
	t.Logf("power loss failed after %v", failedAt)
}

// blocking is a power device whose reads wait until released.
type blocking struct {
	started chan string
	release chan struct{}
	name    string
}

func (b *blocking) Off(context.Context) (fence.Proof, error) { return fence.Proof{}, nil }
func (b *blocking) On(context.Context) error                 { return nil }
func (b *blocking) Status(ctx context.Context) (fence.Status, error) {
	b.started <- b.name
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return fence.StatusOff, nil
}

// When many hosts go quiet at once, at most MaxInFlight of their BMCs are
// read together, and the hosts left out are read first at the next round.
func TestPowerWatchBoundsReadsInFlight(t *testing.T) {
	started, release := make(chan string, 16), make(chan struct{})
	ts := topos{}
	var status []decision.HostStatus
	for i := 1; i <= 5; i++ {
		h := fmt.Sprintf("cmp%d", i)
		dev := &blocking{started: started, release: release, name: h}
		ts[h] = fence.Topology{Host: h, Levels: [][]fence.Member{{{Name: "ipmi", Driver: "ipmi", Power: true, Device: dev}}}}
		status = append(status, decision.HostStatus{Name: h, State: decision.Suspect, Quiet: true})
	}
	reported := make(chan string, 16)
	pw := &PowerWatch{Topos: ts, Parallel: true, MaxInFlight: 2, Report: func(r decision.BMCReading) { reported <- r.Host }}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pw.Round(context.Background(), now, status)
	first := map[string]bool{<-started: true, <-started: true}
	select {
	case h := <-started:
		t.Fatalf("a third read (%s) began with MaxInFlight 2", h)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-reported
	<-reported
	// Every host is due again a round later; the three never read go
	// first, two of them now.
	pw.Round(context.Background(), now.Add(time.Minute), status)
	for range 2 {
		if h := <-started; first[h] {
			t.Errorf("%s was read again before a host never read", h)
		}
	}
}
