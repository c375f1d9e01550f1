package probe_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/vigil-ha/vigil/internal/agent/probe"
	"github.com/vigil-ha/vigil/internal/testbed/libvirtd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// testDefaultUUID is the domain "test" that test:///default always runs.
const testDefaultUUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

func startLibvirtd(t *testing.T) *libvirtd.Daemon {
	t.Helper()
	t0 := time.Now()
	d, err := libvirtd.Start(libvirtd.DefaultConfig(os.Getenv("VIGIL_RUN")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(d.LogTail())
		}
		if err := d.Stop(); err != nil {
			t.Errorf("stop libvirtd: %v", err)
		}
	})
	t.Logf("libvirtd accepts after %v", time.Since(t0).Round(time.Millisecond))
	return d
}

// operator is the test's own go-libvirt connection: it defines, starts and
// stops domains, as Nova would.
func operator(t *testing.T, d *libvirtd.Daemon, uri string) *libvirt.Libvirt {
	t.Helper()
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(d.Socket()), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
		t.Fatalf("operator connect %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// watch starts a watcher that lists the guests again every resync.
func watch(t *testing.T, d *libvirtd.Daemon, uri string, resync time.Duration) *probe.GuestWatcher {
	t.Helper()
	cfg := probe.DefaultLibvirtConfig()
	cfg.Socket, cfg.URI = d.Socket(), uri
	cfg.Retry = 100 * time.Millisecond // a test restarts libvirtd in ~0.1 s
	cfg.Resync, cfg.Timeout = resync, 500*time.Millisecond
	w, err := probe.NewGuestWatcher(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// waitGuests waits for the watcher to be connected (after at least
// connects connections) with exactly want running, and returns how long
// that took.
func waitGuests(t *testing.T, w *probe.GuestWatcher, what string, connects int, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	t0 := time.Now()
	tier.Eventually(t, 20*time.Second, what, func() error {
		g := w.Guests()
		if !g.Connected || g.Connects < connects || !slices.Equal(g.Running, want) {
			return fmt.Errorf("connected %v (%v) connects %d running %v, want %v", g.Connected, g.Err, g.Connects, g.Running, want)
		}
		return nil
	})
	return time.Since(t0)
}

func uuid(i int) string { return fmt.Sprintf("5f3e7c1a-0000-4000-8000-%012d", i) }

// TestGuestWatcherTestDriver drives libvirt's test driver through a real
// libvirtd: guests started and stopped through the API are seen from
// events, and a restart and a crash of libvirtd are each a reconnect that
// lists the guests anew.
func TestGuestWatcherTestDriver(t *testing.T) {
	tier.Integration(t, tier.Root, "libvirtd")
	d := startLibvirtd(t)
	const uri = "test:///default"
	op := operator(t, d, uri) // holds the driver's shared state while the watcher reconnects
	w := watch(t, d, uri, 200*time.Millisecond)
	waitGuests(t, w, "connected: the driver's default domain", 1, testDefaultUUID)

	a, err := op.DomainCreateXML(libvirtd.TestDomainXML("instance-a", uuid(1)), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transient guest started: seen after %v", waitGuests(t, w, "a started", 1, testDefaultUUID, uuid(1)))
	b, err := op.DomainDefineXML(libvirtd.TestDomainXML("instance-b", uuid(2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := op.DomainCreate(b); err != nil {
		t.Fatal(err)
	}
	waitGuests(t, w, "defined guest b started", 1, testDefaultUUID, uuid(1), uuid(2))
	if err := op.DomainSuspend(b); err != nil {
		t.Fatal(err)
	}
	if err := op.DomainDestroy(a); err != nil {
		t.Fatal(err)
	}
	// The destroy's event comes after the suspend's: once a is gone, b's
	// pause has been seen too, and b still counts.
	t.Logf("guest destroyed: seen after %v", waitGuests(t, w, "a destroyed, b paused", 1, testDefaultUUID, uuid(2)))

	// libvirtd hangs (SIGSTOP): its socket stays open, nothing answers.
	t0 := time.Now()
	if err := syscall.Kill(d.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	tier.Eventually(t, 20*time.Second, "a hung libvirtd is a lost connection", func() error {
		if g := w.Guests(); g.Connected {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	t.Logf("libvirtd stopped (SIGSTOP): the watcher disconnected after %v (resync %v, timeout %v)",
		time.Since(t0).Round(time.Millisecond), 200*time.Millisecond, 500*time.Millisecond)
	if err := syscall.Kill(d.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitGuests(t, w, "reconnected after SIGCONT", 2, testDefaultUUID, uuid(2))

	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		// The test driver keeps no state across a daemon restart: after it
		// only the default domain runs, and the watcher must list again.
		t0 := time.Now()
		if err := d.Restart(sig); err != nil {
			t.Fatal(err)
		}
		took := waitGuests(t, w, "reconnected after libvirtd got "+sig.String(), 3+i, testDefaultUUID)
		t.Logf("libvirtd %v and started again in %v; watcher connected %v later", sig, time.Since(t0).Round(time.Millisecond)-took, took.Round(time.Millisecond))
		op = operator(t, d, uri)
		if _, err := op.DomainCreateXML(libvirtd.TestDomainXML("instance-c", uuid(3+i)), 0); err != nil {
			t.Fatal(err)
		}
		waitGuests(t, w, "events flow on the new connection", 3+i, testDefaultUUID, uuid(3+i))
	}
}

// TestGuestWatcherQEMU runs real QEMU guests (TCG) and kills their QEMU
// processes: the watcher sees the stop from libvirt's event, and a libvirtd
// restart while a guest runs lists that guest again.
func TestGuestWatcherQEMU(t *testing.T) {
	tier.Integration(t, tier.Root, "libvirtd", "qemu-system-x86_64")
	d := startLibvirtd(t)
	const uri = "qemu:///session"
	op := operator(t, d, uri)
	// events only lists once a minute: what it sees sooner came from an event.
	events := watch(t, d, uri, time.Minute)
	waitGuests(t, events, "connected, no guests", 1)

	t0 := time.Now()
	if _, err := op.DomainCreateXML(libvirtd.QEMUDomainXML("instance-q1", uuid(7)), 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("QEMU guest created in %v", time.Since(t0).Round(time.Millisecond))
	waitGuests(t, events, "QEMU guest running", 1, uuid(7))
	killed := killQEMU(t, d, "instance-q1")
	waitGuests(t, events, "QEMU killed: seen from the Stopped event", 1)
	t.Logf("kill -9 of QEMU: the guest gone from the watcher after %v", time.Since(killed).Round(time.Millisecond))
	if g := events.Guests(); g.Repairs != 0 {
		t.Fatalf("the stop was repaired by a list (%d), not seen from an event", g.Repairs)
	}

	// libvirtd restarts while a guest runs; QEMU runs on, and the new
	// connection lists it.
	if _, err := op.DomainCreateXML(libvirtd.QEMUDomainXML("instance-q2", uuid(8)), 0); err != nil {
		t.Fatal(err)
	}
	waitGuests(t, events, "second QEMU guest running", 1, uuid(8))
	resync := watch(t, d, uri, 200*time.Millisecond)
	waitGuests(t, resync, "a watcher that resyncs often", 1, uuid(8))
	if err := d.Restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitGuests(t, events, "the QEMU guest listed after libvirtd restarted", 2, uuid(8))
	waitGuests(t, resync, "the QEMU guest listed after libvirtd restarted", 2, uuid(8))
	// QEMU dies right after the restart, maybe while the new libvirtd still
	// reconnects to its monitor: then libvirt sends no event, and only the
	// resync's list shows it gone.
	killed = killQEMU(t, d, "instance-q2")
	waitGuests(t, resync, "QEMU killed after the restart", 2)
	t.Logf("QEMU killed after libvirtd's restart: gone from the resyncing watcher after %v (repairs %d)",
		time.Since(killed).Round(time.Millisecond), resync.Guests().Repairs)
	if g := events.Guests(); len(g.Running) > 0 {
		t.Logf("the events-only watcher still lists %v: libvirt sent no Stopped event", g.Running)
	}
}

// killQEMU kills domain name's QEMU with SIGKILL and returns when.
func killQEMU(t *testing.T, d *libvirtd.Daemon, name string) time.Time {
	t.Helper()
	pid := qemuPid(t, d, name)
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return t0
}

// qemuPid finds the QEMU process of domain name: the one process whose
// command line names the guest and this daemon's directory.
func qemuPid(t *testing.T, d *libvirtd.Daemon, name string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), "guest="+name) && strings.Contains(string(b), d.Dir()+"/") {
			return pid
		}
	}
	t.Fatalf("no QEMU process for %s", name)
	return 0
}
