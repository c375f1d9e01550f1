package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
			w, err := openWatchdog(p, 30*time.Second, io)
			if err != nil {
				t.Fatal(err)
			}
			if io.set != 30 || w.Timeout() != 30*time.Second {
				t.Fatalf("asked the device for %ds, reports %v; want 30", io.set, w.Timeout())
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
		path    string
		want    string
	}{
		{"fractions", 1500 * time.Millisecond, &fakeIoctl{}, p, "whole seconds"},
		{"no device", 30 * time.Second, &fakeIoctl{}, "/dev/no-such-watchdog", "is the driver loaded"},
		{"not a watchdog", 30 * time.Second, &fakeIoctl{err: errors.New("inappropriate ioctl for device")}, p, "does not take a timeout of 30s"},
		{"rounded down", 30 * time.Second, &fakeIoctl{give: 20}, p, "set watchdog.timeout to 20s or less"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openWatchdog(tc.path, tc.timeout, tc.io)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "watchdog.") {
				t.Fatalf("err %v; want one naming the field and saying %q", err, tc.want)
			}
		})
	}
	// A device that rounds up keeps a longer timer: accepted, and
	// reported as it is, so the safe time uses the real value.
	w, err := openWatchdog(p, 30*time.Second, &fakeIoctl{give: 32})
	if err != nil || w.Timeout() != 32*time.Second {
		t.Fatalf("rounded up: %v, %v", w, err)
	}
	_ = w.Abandon()
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
