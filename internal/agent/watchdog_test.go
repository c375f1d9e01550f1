package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// This machine has no watchdog device and cannot load softdog (no kernel
// modules), so these tests run the device protocol against a plain file and
// a stand-in for the two ioctls (fakeIoctl, named as the fake it is): what
// the agent writes (keepalives, the magic "V" only on Disarm) and which
// timeout it asks for are checked; the kernel's part is not.
type fakeIoctl struct {
	set  int
	give int // what GETTIMEOUT answers; 0: what was set
	err  error
}

func (f *fakeIoctl) setTimeout(_ int, s int) error { f.set = s; return f.err }
func (f *fakeIoctl) options(int) (uint32, error) {
	return unix.WDIOF_SETTIMEOUT | unix.WDIOF_MAGICCLOSE | unix.WDIOF_KEEPALIVEPING, nil
}
func (f *fakeIoctl) getTimeout(int) (int, error) {
	if f.give != 0 {
		return f.give, nil
	}
	return f.set, nil
}

func device(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWatchdogFeedsAndDisarmsOnlyWhenTold(t *testing.T) {
	for _, tc := range []struct {
		name   string
		disarm bool
		want   string
	}{{"abandoned: the timer runs on", false, "\x00\x00"}, {"disarmed: the magic close", true, "\x00\x00V"}} {
		t.Run(tc.name, func(t *testing.T) {
			p, io := device(t), &fakeIoctl{}
			w, err := LinuxDevice{Path: p, ioctl: io}.Open()
			if err != nil {
				t.Fatal(err)
			}
			if io.set != 0 {
				t.Fatal("opening the device set its timeout: a set pings, and only the keeper decides when")
			}
			got, err := w.SetTimeout(30 * time.Second)
			if err != nil || io.set != 30 || got != 30*time.Second {
				t.Fatalf("asked the device for %ds, reports %v (%v); want 30", io.set, got, err)
			}
			for range 2 {
				if err := w.Keepalive(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.disarm {
				err = w.Disarm()
			} else {
				err = w.Abandon()
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(p); string(got) != tc.want {
				t.Fatalf("wrote %q to the device, want %q", got, tc.want)
			}
		})
	}
}

func TestWatchdogRefusesWhatItCannotKeep(t *testing.T) {
	p := device(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		io      *fakeIoctl
		want    string
	}{
		{"fractions", 1500 * time.Millisecond, &fakeIoctl{}, "whole seconds"},
		{"not a watchdog", 30 * time.Second, &fakeIoctl{err: errors.New("inappropriate ioctl for device")}, "does not take a timeout of 30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := LinuxDevice{Path: p, ioctl: tc.io}.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = w.Abandon() }()
			_, err = w.SetTimeout(tc.timeout)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "watchdog.") {
				t.Fatalf("err %v; want one naming the field and saying %q", err, tc.want)
			}
		})
	}
	if _, err := (LinuxDevice{Path: "/dev/no-such-watchdog"}).Open(); err == nil || !strings.Contains(err.Error(), "is the driver loaded") {
		t.Fatalf("no device: %v", err)
	}
	if err := (LinuxDevice{Path: "/dev/no-such-watchdog"}).Check(); err == nil || !strings.Contains(err.Error(), "watchdog.device") {
		t.Fatalf("check of no device: %v", err)
	}
	if err := (LinuxDevice{Path: p}).Check(); err == nil || !strings.Contains(err.Error(), "not a character device") {
		t.Fatalf("check of a plain file: %v", err)
	}
	if err := (LinuxDevice{Path: "/dev/null"}).Check(); err != nil {
		t.Fatalf("check of a character device: %v", err)
	}
	// A device that rounds up keeps a longer timer: reported as it is,
	// so the safe time uses the real value.
	w, err := LinuxDevice{Path: p, ioctl: &fakeIoctl{give: 32}}.Open()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.SetTimeout(30 * time.Second); err != nil || got != 32*time.Second {
		t.Fatalf("rounded up: %v, %v", got, err)
	}
	_ = w.Abandon()
}

// The kernel model pings where Linux does (drivers/watchdog/
// watchdog_dev.c): a write, WDIOC_SETTIMEOUT, a close without the magic;
// it starts a stopped timer on open, refuses a second opener, and only the
// magic close stops it.
func TestKernelWatchdogPingsWhereLinuxDoes(t *testing.T) {
	var now time.Duration
	k := &KernelWatchdog{Now: func() time.Duration { return now }, Default: 60 * time.Second}
	w, err := k.Open()
	if err != nil {
		t.Fatal(err)
	}
	if active, last, timeout := k.Active(); !active || last != 0 || timeout != 60*time.Second {
		t.Fatalf("open: active %v last %v timeout %v", active, last, timeout)
	}
	if _, err := k.Open(); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("a second open: %v, want EBUSY", err)
	}
	for i, touch := range []func() error{
		w.Keepalive,
		func() error { _, err := w.SetTimeout(10 * time.Second); return err },
		w.Abandon,
	} {
		now = time.Duration(i+1) * time.Second
		if err := touch(); err != nil {
			t.Fatal(err)
		}
		if _, last, _ := k.Active(); last != now {
			t.Fatalf("touch %d at %v did not ping (last %v)", i, now, last)
		}
	}
	if w.Keepalive() == nil || k.Held() {
		t.Fatal("a closed handle still feeds, or the device is still held")
	}
	now = 5 * time.Second
	w, _ = k.Open()
	if _, last, timeout := k.Active(); last != 3*time.Second || timeout != 10*time.Second {
		t.Fatalf("opening a running device pinged it or lost its timeout: last %v timeout %v", last, timeout)
	}
	k.Exit() // the process holding it dies: the kernel's close
	if _, last, _ := k.Active(); last != 5*time.Second || k.Pings["release"] != 2 {
		t.Fatalf("the exit's close: last %v pings %v", last, k.Pings)
	}
	w, _ = k.Open()
	_ = w.Disarm()
	if active, _, _ := k.Active(); active || k.Held() {
		t.Fatal("the magic close did not stop the timer")
	}
	k.PingOnOpen = true
	now = 7 * time.Second
	_, _ = k.Open()
	now = 8 * time.Second
	k.Exit()
	_, _ = k.Open()
	if _, last, _ := k.Active(); last != 8*time.Second || k.Pings["open"] != 1 {
		t.Fatalf("an older driver pings on open: last %v pings %v", last, k.Pings)
	}
}

func TestBootTimeRuns(t *testing.T) {
	a, err := BootTime()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	b, _ := BootTime()
	if a <= 0 || b-a < 10*time.Millisecond {
		t.Fatalf("CLOCK_BOOTTIME %v then %v", a, b)
	}
}
