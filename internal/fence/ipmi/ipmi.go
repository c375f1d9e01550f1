package ipmi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

const driverName = "ipmi"

var _ fence.Device = (*Device)(nil)

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
	return &Device{
		cfg:    cfg,
		target: net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)),
		log:    log.With("driver", driverName),
		dial:   func(ctx context.Context) (session, error) { return dialLAN(ctx, cfg) },
	}, nil
}

// Off sends chassis power down and returns a Proof once the chassis power
// reads back off within OffTimeout (or ctx's deadline, if sooner).
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OffTimeout)
	defer cancel()
	elapsed, reads, err := d.switchAndVerify(ctx, "off", false)
	if err != nil {
		return fence.Proof{}, err
	}
	return fence.Proof{
		Driver: driverName,
		Detail: fmt.Sprintf("chassis power down accepted by %s; power read back off %v after it, on read %d",
			d.target, elapsed.Round(time.Millisecond), reads),
	}, nil
}

// On sends chassis power up and returns nil once the chassis power reads
// back on within OnTimeout (or ctx's deadline, if sooner).
func (d *Device) On(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OnTimeout)
	defer cancel()
	_, _, err := d.switchAndVerify(ctx, "on", true)
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
	if on {
		return fence.StatusOn, nil
	}
	return fence.StatusOff, nil
}

// switchAndVerify sends power up (on) or down, then reads the power state
// until it is on or ctx ends; a failed read drops the session and the next
// read opens a new one. It returns the time from the command's reply to the
// matching read and the number of reads.
func (d *Device) switchAndVerify(ctx context.Context, op string, on bool) (time.Duration, int, error) {
	s, err := d.dial(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("ipmi: %s %s: %w", op, d.target, err)
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	if err := s.setPower(ctx, on); err != nil {
		return 0, 0, fmt.Errorf("ipmi: %s %s: %w", op, d.target, err)
	}
	sent := time.Now()
	d.log.Info("ipmi chassis control accepted", "power", op)

	tick := time.NewTicker(d.cfg.PollInterval)
	defer tick.Stop()
	last := ""        // power state of the latest read that answered
	var lastErr error // from the latest read that failed before ctx ended
	for reads := 1; ; reads++ {
		if s == nil {
			s, err = d.dial(ctx)
		}
		if s != nil {
			var isOn bool
			isOn, err = s.powerIsOn(ctx)
			if err != nil {
				s.close()
				s = nil
			}
			switch {
			case err != nil:
			case isOn == on:
				d.log.Info("ipmi power verified", "power", op, "attempt", reads)
				return time.Since(sent), reads, nil
			case isOn:
				last = "on"
			default:
				last = "off"
			}
		}
		if err != nil && ctx.Err() == nil {
			lastErr = err
			d.log.Warn("ipmi power read failed", "power", op, "attempt", reads, "error", err)
		}
		select {
		case <-ctx.Done():
			why := "no read answered"
			if last != "" {
				why = "power still " + last
			}
			if lastErr != nil {
				why += fmt.Sprintf("; last failed read: %v", lastErr)
			}
			return 0, reads, fmt.Errorf("ipmi: %s %s: %w: %s %v after the command (%d reads): %w",
				op, d.target, fence.ErrNotVerified, why, time.Since(sent).Round(time.Millisecond), reads, ctx.Err())
		case <-tick.C:
		}
	}
}
