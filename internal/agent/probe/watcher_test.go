package probe

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeHypervisor is a libvirt connection the test drives.
type fakeHypervisor struct {
	list    []Guest
	hang    bool  // Active waits for its deadline
	listErr error // Active's answer after the first list
	lists   int
	events  chan GuestEvent

	mu     sync.Mutex // guards closed
	closed bool
}

func newFake(list ...Guest) *fakeHypervisor {
	return &fakeHypervisor{list: list, events: make(chan GuestEvent)}
}

func (f *fakeHypervisor) Active(ctx context.Context) ([]Guest, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.lists++
	if f.lists > 1 && f.listErr != nil {
		return nil, f.listErr
	}
	return f.list, nil
}
func (f *fakeHypervisor) Events() <-chan GuestEvent { return f.events }
func (f *fakeHypervisor) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
func (f *fakeHypervisor) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

var errRefused = errors.New("dial unix /run/libvirt/libvirt-sock: connect: connection refused")

// dials answers each dial with the next connection, or errRefused for a
// nil one and after the last.
func dials(hs ...*fakeHypervisor) dialFunc {
	var mu sync.Mutex
	return func(context.Context) (hypervisor, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(hs) == 0 || hs[0] == nil {
			if len(hs) > 0 {
				hs = hs[1:]
			}
			return nil, errRefused
		}
		h := hs[0]
		hs = hs[1:]
		return h, nil
	}
}

var (
	guestA = Guest{UUID: "aaaaaaaa-0000-4000-8000-000000000001", Name: "instance-00000001"}
	guestB = Guest{UUID: "bbbbbbbb-0000-4000-8000-000000000002", Name: "instance-00000002"}
	guestC = Guest{UUID: "cccccccc-0000-4000-8000-000000000003", Name: "instance-00000003"}
)

func startWatcher(t *testing.T, dial dialFunc) (*GuestWatcher, context.CancelFunc, chan error) {
	w := newGuestWatcher(DefaultLibvirtConfig(), dial, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	synctest.Wait()
	return w, cancel, done
}

func wantGuests(t *testing.T, w *GuestWatcher, step string, connected bool, connects int, running ...string) {
	t.Helper()
	g := w.Guests()
	if connected && len(running) == 0 {
		running = []string{}
	}
	if g.Connected != connected || g.Connects != connects {
		t.Fatalf("%s: connected %v (%v), connects %d; want %v, %d", step, g.Connected, g.Err, g.Connects, connected, connects)
	}
	if d := cmp.Diff(running, g.Running); d != "" {
		t.Fatalf("%s: running (-want +got):\n%s", step, d)
	}
}

// TestGuestWatcherFollowsEventsAndReconnects plays a libvirtd that serves
// events, goes away, refuses a connection while it restarts, and comes
// back with another list.
func TestGuestWatcherFollowsEventsAndReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, second := newFake(guestA), newFake(guestB, guestC)
		w, cancel, done := startWatcher(t, dials(first, nil, second))
		wantGuests(t, w, "connected", true, 1, guestA.UUID)
		select {
		case <-w.Changed():
		default:
			t.Fatal("no change signalled after connecting")
		}

		first.events <- GuestEvent{Guest: guestB, Event: Started}
		synctest.Wait()
		wantGuests(t, w, "b started", true, 1, guestA.UUID, guestB.UUID)
		first.events <- GuestEvent{Guest: guestA, Event: Suspended}
		synctest.Wait()
		wantGuests(t, w, "a paused: still active", true, 1, guestA.UUID, guestB.UUID)
		<-w.Changed() // the signals so far merged into one
		first.events <- GuestEvent{Guest: guestA, Event: Stopped, Detail: StoppedFailed}
		synctest.Wait()
		wantGuests(t, w, "a's QEMU died", true, 1, guestB.UUID)
		select {
		case <-w.Changed():
		default:
			t.Fatal("the stop was not signalled")
		}

		// libvirtd stops: the subscription ends with the connection.
		lost := time.Now()
		close(first.events)
		synctest.Wait()
		wantGuests(t, w, "connection lost", false, 1)
		if g := w.Guests(); !errors.Is(g.Err, ErrLibvirtLost) {
			t.Fatalf("error %v, want ErrLibvirtLost", g.Err)
		}
		if !first.isClosed() {
			t.Fatal("the lost connection was not closed")
		}
		time.Sleep(time.Second) // the first retry: still refused
		synctest.Wait()
		if g := w.Guests(); g.Connected || !errors.Is(g.Err, errRefused) {
			t.Fatalf("while libvirtd restarts: %+v, want the dial's error", g)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		wantGuests(t, w, "reconnected: the new list", true, 2, guestB.UUID, guestC.UUID)
		if d := time.Since(lost); d != 2*time.Second {
			t.Fatalf("back %v after the loss, want two retries of 1 s", d)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		if !second.isClosed() {
			t.Fatal("the connection outlived Run")
		}
		wantGuests(t, w, "stopped", false, 2)
	})
}

// TestGuestWatcherDropsAHungLibvirtd: a libvirtd that keeps its socket
// open but answers nothing is a lost connection, found by the resync or
// the call's timeout.
func TestGuestWatcherDropsAHungLibvirtd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		quiet := newFake(guestA)
		quiet.listErr = context.DeadlineExceeded
		hung := newFake()
		hung.hang = true
		w, cancel, _ := startWatcher(t, dials(quiet, hung, newFake(guestB)))
		defer cancel()
		wantGuests(t, w, "connected", true, 1, guestA.UUID)
		time.Sleep(DefaultLibvirtConfig().Resync)
		synctest.Wait()
		if g := w.Guests(); g.Connected || !errors.Is(g.Err, ErrLibvirtLost) || !errors.Is(g.Err, context.DeadlineExceeded) {
			t.Fatalf("after an unanswered resync: %+v, want lost", g)
		}
		// The next libvirtd accepts but never lists: cut at the timeout.
		time.Sleep(DefaultLibvirtConfig().Retry + DefaultLibvirtConfig().Timeout)
		synctest.Wait()
		if g := w.Guests(); g.Connected || !errors.Is(g.Err, context.DeadlineExceeded) || !hung.isClosed() {
			t.Fatalf("after a list that never answered: %+v, want the deadline", g)
		}
		time.Sleep(DefaultLibvirtConfig().Retry)
		synctest.Wait()
		wantGuests(t, w, "a healthy libvirtd at last", true, 2, guestB.UUID)
	})
}

func TestLibvirtConfigValidate(t *testing.T) {
	if err := DefaultLibvirtConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*LibvirtConfig){
		func(c *LibvirtConfig) { c.Socket = "" },
		func(c *LibvirtConfig) { c.URI = "" },
		func(c *LibvirtConfig) { c.Retry = 0 },
	} {
		c := DefaultLibvirtConfig()
		mutate(&c)
		if _, err := NewGuestWatcher(c, slog.Default()); err == nil {
			t.Errorf("NewGuestWatcher(%+v): want an error", c)
		}
	}
}

// TestGuestWatcherRepairsAMissedEvent: libvirt lists a guest gone that no
// event said stopped; the next resync repairs the set and counts it.
func TestGuestWatcherRepairsAMissedEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newFake(guestA, guestB)
		w, cancel, _ := startWatcher(t, dials(h))
		defer cancel()
		wantGuests(t, w, "connected", true, 1, guestA.UUID, guestB.UUID)
		time.Sleep(DefaultLibvirtConfig().Resync)
		synctest.Wait()
		if g := w.Guests(); g.Repairs != 0 {
			t.Fatalf("a resync that agreed counted %d repairs", g.Repairs)
		}
		h.list = []Guest{guestB} // a's QEMU died, and no event came
		time.Sleep(DefaultLibvirtConfig().Resync)
		synctest.Wait()
		wantGuests(t, w, "repaired", true, 1, guestB.UUID)
		if g := w.Guests(); g.Repairs != 1 {
			t.Fatalf("repairs %d, want 1", g.Repairs)
		}
	})
}
