package probe

import (
	"context"
	"errors"
	"testing"
	"time"
)

type sampler struct {
	s   Sample
	err error
}

func (p *sampler) Sample(context.Context) (Sample, error) { return p.s, p.err }

type guests struct{ g Guests }

func (g guests) Guests() Guests { return g.g }

// The host's report: a restart of nova-compute counts, a probe that cannot
// look reports not running (not a crash, not silence), and guests libvirt
// cannot list are unknown, never "none".
func TestHostSampleReportsRestartsAndWhatItCannotSee(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nova := &sampler{s: Sample{Running: true, Instance: "c1", Started: t0}}
	lv := &sampler{s: Sample{Running: true, Instance: "c2", Started: t0}}
	h := &Host{BootID: "b", NovaCompute: &Service{Prober: nova}, Libvirtd: &Service{Prober: lv},
		Guests: guests{Guests{Connected: true, Running: []string{"vm1"}}}}
	ctx := context.Background()

	s := h.Sample(ctx)
	if !s.NovaCompute.Running || s.NovaCompute.Restarts != 0 || s.GuestsUnknown || len(s.Domains) != 1 || s.BootID != "b" {
		t.Fatalf("first sample = %+v", s)
	}
	nova.s = Sample{Running: true, Instance: "c3", Started: t0.Add(time.Minute)} // docker restart nova_compute
	if s := h.Sample(ctx); s.NovaCompute.Restarts != 1 || !s.NovaCompute.Running {
		t.Errorf("after a restart: nova-compute = %+v, want running with 1 restart", s.NovaCompute)
	}
	lv.err = errors.New("docker engine: connection refused")
	h.Guests = guests{Guests{Err: errors.New("libvirt: connection refused")}}
	s = h.Sample(ctx)
	if s.Libvirtd.Running || !s.GuestsUnknown || s.Domains != nil {
		t.Errorf("probes failing: libvirtd = %+v, guests unknown %v, domains %v; want not running, unknown, none listed", s.Libvirtd, s.GuestsUnknown, s.Domains)
	}
	if !s.NovaCompute.Running {
		t.Error("one probe failing stopped another from reporting")
	}
}
