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
	pw := &PowerWatch{Topos: ts, Every: 10 * time.Second, Report: func(r decision.BMCReading) { e.Step(epoch, r) }}
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
		found = found || a == "80s fence-power-on" || a == "81s fence-power-on" || a == "90s fence-power-on"
	}
	if !found {
		t.Errorf("alerts %v, want fence-power-on soon after 80 s", alerts)
	}
	// Read once per Every while the incident is open, not every second.
	if dev.reads > 12 {
		t.Errorf("the BMC was read %d times in about 110 s of incident, want at most one per 10 s", dev.reads)
	}
}
