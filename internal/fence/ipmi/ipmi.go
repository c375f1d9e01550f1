package ipmi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/vigil-ha/vigil/internal/fence"
)

const driverName = "ipmi"

var (
	_ fence.Device    = (*Device)(nil)
	_ fence.Diagnoser = (*Device)(nil)
)

// Device fences one host through its BMC over IPMI lanplus.
type Device struct {
	cfg    Config
	target string // host:port, for messages
	log    *slog.Logger
	// dial opens a session; tests replace it.
	dial func(ctx context.Context) (session, error)
}

// New checks cfg and returns a Device. It does not contact the BMC. A nil
// logger discards.
func New(cfg Config, log *slog.Logger) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("driver", driverName)
	return &Device{
		cfg:    cfg,
		target: net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)),
		log:    log,
		dial:   func(ctx context.Context) (session, error) { return dialLAN(ctx, cfg, log) },
	}, nil
}

// Off sends chassis power down and returns a Proof once the chassis power
// has read back off for PowerWait within OffTimeout (or ctx's deadline, if
// sooner).
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OffTimeout)
	defer cancel()
	r, err := d.switchAndVerify(ctx, "off", false)
	if err != nil {
		return fence.Proof{}, err
	}
	return fence.Proof{
		Driver: driverName,
		Detail: fmt.Sprintf("chassis power down accepted by %s; %s", d.target, r),
		Power:  r.Proof(),
	}, nil
}

// On sends chassis power up and returns nil once the chassis power reads
// back on likewise within OnTimeout (or ctx's deadline, if sooner).
func (d *Device) On(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OnTimeout)
	defer cancel()
	_, err := d.switchAndVerify(ctx, "on", true)
	return err
}

// Status reads the chassis power state.
func (d *Device) Status(ctx context.Context) (fence.Status, error) {
	s, err := d.dial(ctx)
	if err != nil {
		return fence.StatusUnknown, fmt.Errorf("ipmi: status of %s: %w", d.target, err)
	}
	defer s.close()
	on, err := s.powerIsOn(ctx)
	if err != nil {
		return fence.StatusUnknown, fmt.Errorf("ipmi: status of %s: %w", d.target, err)
	}
	return statusOf(on), nil
}

// Diag sends chassis control "pulse diagnostic interrupt" (an NMI, for a
// kdump of a hung host) once, within OffTimeout, to a host whose chassis
// power reads on. It changes no power and verifies nothing: the host may
// panic, dump and reboot, or ignore it. A BMC that answers with a
// completion code for "not supported" fails with fence.ErrDiagUnsupported.
func (d *Device) Diag(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OffTimeout)
	defer cancel()
	s, err := d.dial(ctx)
	if err != nil {
		return "", fmt.Errorf("ipmi: diag %s: %w", d.target, err)
	}
	defer s.close()
	on, err := s.powerIsOn(ctx)
	if err != nil {
		return "", fmt.Errorf("ipmi: diag %s: %w", d.target, err)
	}
	if !on {
		return "", fmt.Errorf("ipmi: diag %s: the chassis power reads off: there is no running kernel to interrupt; nothing sent", d.target)
	}
	if err := s.diag(ctx); err != nil {
		return "", fmt.Errorf("ipmi: diag %s: %w", d.target, err)
	}
	d.log.Info("ipmi diagnostic interrupt accepted")
	return "pulse diagnostic interrupt accepted by " + d.target + " (chassis power on)", nil
}

// switchAndVerify sends power up (on) or down, then reads the power state
// through fence.PowerCheck; a failed read drops the session and the next
// read opens a new one.
func (d *Device) switchAndVerify(ctx context.Context, op string, on bool) (fence.PowerReading, error) {
	s, err := d.dial(ctx)
	if err != nil {
		return fence.PowerReading{}, fmt.Errorf("ipmi: %s %s: %w", op, d.target, err)
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	if err := s.setPower(ctx, on); err != nil {
		return fence.PowerReading{}, fmt.Errorf("ipmi: %s %s: %w", op, d.target, err)
	}
	d.log.Info("ipmi chassis control accepted", "power", op)
	read := func(ctx context.Context) (fence.Status, error) {
		if s == nil {
			var err error
			if s, err = d.dial(ctx); err != nil {
				return fence.StatusUnknown, err
			}
		}
		isOn, err := s.powerIsOn(ctx)
		if err != nil {
			s.close()
			s = nil
			return fence.StatusUnknown, err
		}
		return statusOf(isOn), nil
	}
	check := fence.PowerCheck{Interval: d.cfg.PollInterval, Wait: d.cfg.PowerWait}
	r, err := check.Await(ctx, statusOf(on), read, d.log.With("power", op))
	if err != nil {
		return r, fmt.Errorf("ipmi: %s %s: %w", op, d.target, err)
	}
	d.log.Info("ipmi power verified", "power", op, "attempt", r.Reads)
	return r, nil
}

func statusOf(on bool) fence.Status {
	if on {
		return fence.StatusOn
	}
	return fence.StatusOff
}
