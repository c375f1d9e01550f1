package probe

import (
	"context"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Sample is one look at a local service (nova-compute, libvirtd).
type Sample struct {
	Running bool
	// Instance and Started name the run seen: a container's id and the
	// time its process started, or a process's pid and its start time. A
	// different pair is a different run, so a restart is seen even when it
	// happened between two samples.
	Instance string
	Started  time.Time
	// RestartCount is the engine's own count of its restarts of the
	// service (Docker's, which counts restart-policy restarts and starts
	// from 0 again on a manual restart); 0 when it keeps none.
	RestartCount int
}

// sameRun tells whether a and b saw the same run of the service.
func sameRun(a, b Sample) bool {
	return a.Instance == b.Instance && a.Started.Equal(b.Started)
}

// Tracker turns a service's samples into what the agent reports
// (decision.Process): whether it runs, and how many times it started anew
// since the tracker's first sample. A service already running at the first
// sample is the baseline, not a restart; one that was down then and starts
// later counts one, as does every later run. It is pure: no clock, no I/O.
type Tracker struct {
	sampled  bool   // a sample was taken (a failed probe is none)
	last     Sample // the last running sample
	restarts int
}

// Observe takes the next sample and returns the report it makes.
func (t *Tracker) Observe(s Sample) decision.Process {
	if s.Running && !sameRun(t.last, s) {
		if t.sampled {
			n := 1
			// Several restart-policy restarts between two samples: the
			// engine's count says how many.
			if t.last.Instance == s.Instance && s.RestartCount-t.last.RestartCount > n {
				n = s.RestartCount - t.last.RestartCount
			}
			t.restarts += n
		}
		t.last = s
	}
	t.sampled = true
	return decision.Process{Running: s.Running, Restarts: t.restarts}
}

// Failed is the report when the probe could not look (the Docker engine or
// /proc did not answer): not running, since nothing shows it runs, and the
// restarts seen so far. The next sample is compared with the last run seen
// before the failure, so a restart during it still counts.
func (t *Tracker) Failed() decision.Process {
	return decision.Process{Running: false, Restarts: t.restarts}
}

// Prober looks at one local service: a ContainerProbe or a ProcProbe.
type Prober interface {
	Sample(ctx context.Context) (Sample, error)
}

var (
	_ Prober = (*ContainerProbe)(nil)
	_ Prober = (*ProcProbe)(nil)
)

// Service is one watched service: its prober and the tracker of its runs.
type Service struct {
	Prober  Prober
	Tracker Tracker
}

// Check samples the service and returns the report, with the probe's
// error when it could not look (the report then says not running).
func (s *Service) Check(ctx context.Context) (decision.Process, error) {
	smp, err := s.Prober.Sample(ctx)
	if err != nil {
		return s.Tracker.Failed(), err
	}
	return s.Tracker.Observe(smp), nil
}
