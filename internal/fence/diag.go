package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Diagnoser is a device that can send its host a diagnostic interrupt
// (NMI): a hung kernel that still takes NMIs panics and, with kdump
// configured, writes a crash dump before it reboots. It is not a fence:
// the host may keep running, or reboot and start its guests again.
//
// Diag sends the interrupt once, never retried (a second NMI may land in
// the dumping kernel), and returns what it did, for the output. A device
// whose BMC cannot send one fails with ErrDiagUnsupported, before sending
// anything that could reach the host.
type Diagnoser interface {
	Diag(ctx context.Context) (string, error)
}

// ErrDiagUnsupported: the device (its driver, or its BMC) cannot send a
// diagnostic interrupt. Nothing reached the host.
var ErrDiagUnsupported = errors.New("fence: the device cannot send a diagnostic interrupt (NMI)")

// Diag sends the host a diagnostic interrupt through the first device, in
// level order, that can: members that are not a Diagnoser are passed over,
// and so is one whose error says nothing was sent (ErrDiagUnsupported,
// ErrAuth, ErrInvalidConfig). Any other failure ends it there: the
// interrupt may have reached the host, and a second one through another
// device could interrupt the dump it started. When no device can, the
// error wraps ErrDiagUnsupported and names every device with its driver
// and why.
func (t Topology) Diag(ctx context.Context, report func(Step)) (string, error) {
	if report == nil {
		report = func(Step) {}
	}
	var passed []string
	for i, level := range t.Levels {
		for _, m := range level {
			who := fmt.Sprintf("level %d %s (%s)", i+1, m.Name, m.Driver)
			d, ok := m.Device.(Diagnoser)
			if !ok {
				passed = append(passed, who+": the driver has no diag action")
				continue
			}
			once := m
			once.Retries = 0
			var detail string
			err := t.attempt(ctx, once, func(ctx context.Context) (err error) {
				start := time.Now()
				detail, err = d.Diag(ctx)
				report(Step{Level: i + 1, Member: m.Name, Op: "diag", Took: time.Since(start), Detail: detail, Err: err})
				return err
			})
			switch {
			case err == nil:
				return fmt.Sprintf("%s: %s", who, detail), nil
			case errors.Is(err, ErrDiagUnsupported), errors.Is(err, ErrAuth), errors.Is(err, ErrInvalidConfig):
				passed = append(passed, who+": "+err.Error())
				if ctx.Err() != nil {
					return "", fmt.Errorf("fence: diag %s: %w", t.Host, ctx.Err())
				}
			default:
				return "", fmt.Errorf("fence: diag %s: %s: %w (not tried through another device: the interrupt may have reached the host)", t.Host, who, err)
			}
		}
	}
	if len(passed) == 0 {
		return "", fmt.Errorf("%w: %s has no fence devices configured", ErrDiagUnsupported, t.Host)
	}
	return "", fmt.Errorf("%w: no device of %s could send one: %s", ErrDiagUnsupported, t.Host, strings.Join(passed, "; "))
}
