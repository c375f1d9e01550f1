package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ErrLibvirtLost is the watcher's error after its libvirt connection
// closed (libvirtd stopped or restarted).
var ErrLibvirtLost = errors.New("probe: libvirt connection lost")

// hypervisor is one libvirt connection as the watcher uses it. Its event
// subscription begins before the connection is handed over, so every event
// after the first Active list is in Events.
type hypervisor interface {
	Active(ctx context.Context) ([]Guest, error)
	// Events delivers lifecycle events in order; it is closed when the
	// connection is lost.
	Events() <-chan GuestEvent
	Close() error
}

// dialFunc opens a connection and subscribes to lifecycle events.
type dialFunc func(ctx context.Context) (hypervisor, error)

// LibvirtConfig says how to reach libvirtd and how the watcher keeps its
// connection.
type LibvirtConfig struct {
	// Socket is libvirtd's local RPC socket.
	Socket string
	// URI is the driver to connect to: qemu:///system on a compute host.
	URI string
	// Timeout bounds a connect and every call: a hung libvirtd is a lost
	// connection, never a stuck watcher.
	Timeout time.Duration
	// Retry is the wait between connection attempts.
	Retry time.Duration
	// Resync is how often the watcher lists the active guests again. The
	// list checks that libvirtd still answers (a hung one keeps its socket
	// open and answers nothing) and repairs an event libvirt never sent:
	// seen here on libvirt 9.0, a guest whose QEMU was killed about 0.1 s
	// after libvirtd restarted was listed inactive, yet no Stopped event
	// came within 20 s (5 runs of 7).
	Resync time.Duration
}

// DefaultLibvirtConfig is a compute host's libvirtd (Kolla's nova_libvirt
// shares the same socket path with the host). A libvirtd restart takes
// about a second, so the watcher tries again every second; it only ever
// dials its own host, so that costs nothing elsewhere.
func DefaultLibvirtConfig() LibvirtConfig {
	return LibvirtConfig{
		Socket:  "/run/libvirt/libvirt-sock",
		URI:     "qemu:///system",
		Timeout: 5 * time.Second,
		Retry:   time.Second,
		Resync:  5 * time.Second,
	}
}

// Validate reports the first problem with c, naming the field.
func (c LibvirtConfig) Validate() error {
	switch {
	case c.Socket == "":
		return errors.New("probe: libvirt socket is empty")
	case c.URI == "":
		return errors.New("probe: libvirt uri is empty")
	case c.Timeout <= 0 || c.Retry <= 0 || c.Resync <= 0:
		return fmt.Errorf("probe: libvirt timeout %v, retry %v, resync %v: want positive durations", c.Timeout, c.Retry, c.Resync)
	}
	return nil
}

// Guests is what the watcher knows now.
type Guests struct {
	// Connected: the watcher holds a connection with a live event
	// subscription, so Running is current.
	Connected bool
	// Running lists the instance UUIDs of the active guests, sorted; nil
	// while not connected (unknown, not none).
	Running []string
	// Err says why the watcher is not connected.
	Err error
	// Connects counts the connections made: it goes up after every
	// reconnect (libvirtd restarted).
	Connects int
	// Repairs counts the resyncs whose list differed from what the events
	// had said: each is an event libvirt did not send.
	Repairs int
}

// GuestWatcher keeps the host's active guests from libvirt: it lists them
// when it connects and follows lifecycle events after that, so a guest that
// stops or whose QEMU dies is seen at once, without polling. When the
// connection is lost it reports so and connects again.
type GuestWatcher struct {
	cfg     LibvirtConfig
	dial    dialFunc
	log     *slog.Logger
	changed chan struct{} // one pending signal; Run sends, the agent receives

	mu  sync.Mutex // guards now
	now Guests
}

// NewGuestWatcher returns a watcher of cfg's libvirtd; Run starts it.
func NewGuestWatcher(cfg LibvirtConfig, log *slog.Logger) (*GuestWatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newGuestWatcher(cfg, dialLibvirt(cfg), log), nil
}

func newGuestWatcher(cfg LibvirtConfig, dial dialFunc, log *slog.Logger) *GuestWatcher {
	return &GuestWatcher{
		cfg:     cfg,
		dial:    dial,
		log:     log,
		changed: make(chan struct{}, 1),
		now:     Guests{Err: errors.New("probe: libvirt not connected yet")},
	}
}

// Guests returns what the watcher knows now.
func (w *GuestWatcher) Guests() Guests {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.now
	g.Running = append([]string(nil), w.now.Running...)
	if !g.Connected {
		g.Running = nil
	}
	return g
}

// Changed receives a signal after the guests or the connection changed;
// signals that are not received in time merge into one. Read Guests then.
func (w *GuestWatcher) Changed() <-chan struct{} { return w.changed }

func (w *GuestWatcher) publish(g Guests) {
	w.mu.Lock()
	g.Connects, g.Repairs = w.now.Connects, w.now.Repairs+g.Repairs
	if g.Connected && !w.now.Connected {
		g.Connects++
	}
	w.now = g
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default: // a signal is already pending
	}
}

// Run connects and watches until ctx is cancelled, reconnecting after
// every loss; it returns ctx's error.
func (w *GuestWatcher) Run(ctx context.Context) error {
	for {
		err := w.session(ctx)
		if ctx.Err() != nil {
			w.publish(Guests{Err: ctx.Err()})
			return ctx.Err()
		}
		w.log.Warn("libvirt_not_connected", "error", err, "retry", w.cfg.Retry)
		w.publish(Guests{Err: err})
		t := time.NewTimer(w.cfg.Retry)
		select {
		case <-ctx.Done():
			t.Stop()
			w.publish(Guests{Err: ctx.Err()})
			return ctx.Err()
		case <-t.C:
		}
	}
}

// session runs one connection until it is lost or ctx is cancelled.
func (w *GuestWatcher) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	h, err := w.dial(cctx)
	cancel()
	if err != nil {
		return err
	}
	defer h.Close()
	cctx, cancel = context.WithTimeout(ctx, w.cfg.Timeout)
	list, err := h.Active(cctx)
	cancel()
	if err != nil {
		return err
	}
	set := newGuestSet(list)
	w.publish(Guests{Connected: true, Running: set.uuids()})
	w.log.Info("libvirt_connected", "guests", len(set))
	resync := time.NewTicker(w.cfg.Resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-h.Events():
			if !ok {
				return ErrLibvirtLost
			}
			w.log.Info("guest_lifecycle", "instance", e.UUID, "domain", e.Name, "event", e.Event.String(), "detail", e.Detail)
			if set.apply(e) {
				w.publish(Guests{Connected: true, Running: set.uuids()})
			}
		case <-resync.C:
			cctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
			list, err := h.Active(cctx)
			cancel()
			if err != nil {
				return fmt.Errorf("%w: resync: %w", ErrLibvirtLost, err)
			}
			fresh := newGuestSet(list)
			if before, after := set.uuids(), fresh.uuids(); !slices.Equal(before, after) {
				w.log.Warn("guest_resync_repaired", "events_said", before, "libvirt_lists", after)
				w.publish(Guests{Connected: true, Running: after, Repairs: 1})
			}
			set = fresh
		}
	}
}
