package kdump

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

var _ fence.Device = (*Device)(nil)

// ErrForeign: a datagram came from an address that is not one of the
// host's. Check returns it; Off ignores such datagrams.
var ErrForeign = errors.New("kdump: not from one of the host's addresses")

// Device waits for one host's kdump kernel.
type Device struct {
	cfg Config
	src Source
	log *slog.Logger
}

// New checks cfg and returns the device. src is where datagrams come from:
// share one Receiver among every host's device (nil gives the device a
// Receiver of its own). log may be nil.
func New(cfg Config, src Source, log *slog.Logger) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if src == nil {
		src = NewReceiver(log)
	}
	cfg.Addrs = slices.Clone(cfg.Addrs)
	for i, a := range cfg.Addrs {
		cfg.Addrs[i] = a.Unmap()
	}
	return &Device{cfg: cfg, src: src, log: log.With("driver", Driver, "host", cfg.Host)}, nil
}

// Check judges one datagram for a host whose kdump kernel sends from
// addrs: the message, or why it does not count (ErrForeign, ErrMalformed,
// ErrVersion). It is the whole of Off's judgement.
func Check(addrs []netip.Addr, d Datagram) (Message, error) {
	from := d.From.Addr().Unmap().WithZone("")
	if !slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Unmap() == from }) {
		return Message{}, fmt.Errorf("%w: %v", ErrForeign, from)
	}
	return Parse(d.Payload)
}

// Off listens for Timeout and succeeds on the first valid message from
// one of the host's addresses, with a Proof naming it. Without one it fails
// with fence.ErrNotVerified (the next level runs), saying what it ignored.
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	start := time.Now()
	ch, err := d.src.Listen(ctx, d.cfg.Listen)
	if err != nil {
		return fence.Proof{}, d.listenErr(err)
	}
	var ign ignored
	for {
		select {
		case dg, ok := <-ch:
			if !ok {
				ch = nil // closed as ctx ended: wait for ctx below
				continue
			}
			m, err := Check(d.cfg.Addrs, dg)
			if err != nil {
				from := netip.AddrPortFrom(dg.From.Addr().Unmap(), dg.From.Port())
				if ign.add(from.Addr(), err) {
					d.log.Warn("kdump datagram ignored", "from", from.String(), "reason", err.Error())
				}
				continue
			}
			return d.proof(dg, m, start, ign), nil
		case <-ctx.Done():
			return fence.Proof{}, fmt.Errorf("%w: no fence_kdump message from %s (%s) on %v in %v of listening (timeout %v)%s: %w",
				fence.ErrNotVerified, d.cfg.Host, addrList(d.cfg.Addrs), d.cfg.Listen,
				time.Since(start).Round(time.Millisecond), d.cfg.Timeout, ign.suffix(), ctx.Err())
		}
	}
}

func (d *Device) proof(dg Datagram, m Message, start time.Time, ign ignored) fence.Proof {
	from := netip.AddrPortFrom(dg.From.Addr().Unmap(), dg.From.Port())
	waited := dg.At.Sub(start)
	return fence.Proof{
		Driver: Driver,
		Detail: fmt.Sprintf("fence_kdump message v%d from %v at %s, %v after listening on %v: %s runs its kdump kernel%s",
			m.Version, from, dg.At.Format("15:04:05.000"), waited.Round(time.Millisecond), d.cfg.Listen, d.cfg.Host, ign.suffix()),
		Kdump: &fence.KdumpProof{
			From:    from.String(),
			At:      dg.At,
			Listen:  d.cfg.Listen.String(),
			Version: m.Version,
			Waited:  waited,
			Ignored: ign.n,
		},
	}
}

// listenErr says why the listen address cannot be used, and how to fix it.
func (d *Device) listenErr(err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = ": another socket holds the port (a fence_kdump, a second vigil, or a kdump device given another Receiver)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = ": the address is not one of this machine's; set listen to one of them, or 0.0.0.0"
	case errors.Is(err, syscall.EACCES):
		hint = ": ports below 1024 need CAP_NET_BIND_SERVICE; use 7410"
	}
	return fmt.Errorf("%w: kdump: cannot listen on %v%s: %w", fence.ErrUnreachable, d.cfg.Listen, hint, err)
}

// On does nothing: Off cut nothing. The host reboots itself when its dump
// is written (kdump's final action), or a later level's device powers it
// on.
func (d *Device) On(context.Context) error { return nil }

// Status proves that vigil can listen on the device's address (the port
// is free, or already vigil's, and the address is this machine's). A host
// has no kdump state to read: the status is always StatusUnknown.
func (d *Device) Status(ctx context.Context) (fence.Status, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := d.src.Listen(ctx, d.cfg.Listen); err != nil {
		return fence.StatusUnknown, d.listenErr(err)
	}
	return fence.StatusUnknown, nil
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// maxReasons bounds the distinct reasons an Off remembers: a forger may
// vary the source and the payload of every datagram.
const maxReasons = 8

// ignored counts the datagrams an Off did not count, by source and reason.
type ignored struct {
	n       int
	reasons map[string]int
	others  int // beyond maxReasons
}

// add records one; it reports whether the reason is new (to be logged).
func (g *ignored) add(from netip.Addr, err error) bool {
	g.n++
	why := "malformed"
	switch {
	case errors.Is(err, ErrForeign):
		why = "not one of the host's addresses"
	case errors.Is(err, ErrVersion):
		why = "unknown version"
	}
	key := from.String() + ": " + why
	if g.reasons == nil {
		g.reasons = map[string]int{}
	}
	if _, seen := g.reasons[key]; !seen && len(g.reasons) >= maxReasons {
		g.others++
		return false
	}
	g.reasons[key]++
	return g.reasons[key] == 1
}

// suffix is "" or "; ignored 3 datagrams (from 127.0.0.1: not one of the
// host's addresses ×2, ...)".
func (g ignored) suffix() string {
	if g.n == 0 {
		return ""
	}
	parts := make([]string, 0, len(g.reasons)+1)
	for _, k := range slices.Sorted(maps.Keys(g.reasons)) {
		parts = append(parts, fmt.Sprintf("from %s ×%d", k, g.reasons[k]))
	}
	if g.others > 0 {
		parts = append(parts, fmt.Sprintf("%d more from other sources", g.others))
	}
	return fmt.Sprintf("; ignored %d datagrams (%s)", g.n, strings.Join(parts, ", "))
}
