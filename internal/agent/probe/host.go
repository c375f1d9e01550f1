package probe

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// GuestSource is what knows the host's running guests: a GuestWatcher.
type GuestSource interface {
	Guests() Guests
}

var _ GuestSource = (*GuestWatcher)(nil)

// Host is the agent's look at its own host, as a decision.SelfReport: the
// boot, nova-compute and libvirtd (running, restarts), the running guests.
// A probe that cannot look says so in the report (not running; guests
// unknown) and in the log, once per change, and the next sample tries
// again: the agent never stops reporting because one probe fails.
type Host struct {
	BootID      string
	NovaCompute *Service
	Libvirtd    *Service
	Guests      GuestSource
	// Timeout bounds each service probe (default 2s): a hung Docker
	// engine must not hold the report up.
	Timeout time.Duration
	Log     *slog.Logger

	failing map[string]string // probe → the error last logged
}

// Sample is the report's host part now.
func (h *Host) Sample(ctx context.Context) decision.SelfReport {
	s := decision.SelfReport{BootID: h.BootID}
	s.NovaCompute = h.check(ctx, "nova-compute", h.NovaCompute)
	s.Libvirtd = h.check(ctx, "libvirtd", h.Libvirtd)
	if h.Guests == nil {
		s.GuestsUnknown = true
		return s
	}
	g := h.Guests.Guests()
	if !g.Connected {
		s.GuestsUnknown = true
		h.failed("guests", g.Err)
		return s
	}
	h.failed("guests", nil)
	s.Domains = g.Running
	return s
}

func (h *Host) check(ctx context.Context, name string, svc *Service) decision.Process {
	if svc == nil {
		return decision.Process{}
	}
	t := h.Timeout
	if t <= 0 {
		t = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	p, err := svc.Check(ctx)
	h.failed(name, err)
	return p
}

// failed logs a probe's error when it changes, and its recovery.
func (h *Host) failed(probe string, err error) {
	if h.failing == nil {
		h.failing = map[string]string{}
	}
	was, had := h.failing[probe]
	switch {
	case err == nil && had:
		delete(h.failing, probe)
		h.log().Info("probe answers again", "probe", probe)
	case err != nil && (!had || was != err.Error()):
		h.failing[probe] = err.Error()
		h.log().Warn("probe cannot look: reported as not running / unknown", "probe", probe, "err", err)
	}
}

func (h *Host) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}
