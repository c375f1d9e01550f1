package agent

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Watchdog is the hardware timer that resets the host unless it is fed.
// The contract decides when it may be fed (Contract.Feed) and when it may
// be disarmed (Contract.Acked); the device only does what it is told.
type Watchdog interface {
	// Keepalive feeds it: the timer starts again.
	Keepalive() error
	// Disarm stops the timer for good (the magic close). Only after the
	// leader acknowledged a clean stop.
	Disarm() error
	// Abandon closes the device without disarming it: the timer runs on
	// and resets the host unless the next agent process opens it and feeds
	// it in time. What a crash does, and what every exit but an
	// acknowledged clean stop must do.
	Abandon() error
	// Timeout is the timer's timeout as the device set it (drivers round).
	Timeout() time.Duration
}

// LinuxWatchdog is a Linux watchdog device (/dev/watchdog, the watchdog
// core's API: Documentation/watchdog/watchdog-api.rst). Opening it starts
// the timer; any write feeds it; writing "V" before the close disarms it,
// unless the driver was built or loaded with nowayout, which vigil leaves
// to the operator (the timer then runs on after an acknowledged stop too:
// the host resets, the safe direction).
type LinuxWatchdog struct {
	path    string
	f       *os.File
	ioctl   ioctler
	timeout time.Duration
}

// ioctler is the two watchdog ioctls vigil uses: the seam that lets the
// tests check them on a machine without a watchdog device.
type ioctler interface {
	setTimeout(fd int, seconds int) error
	getTimeout(fd int) (int, error)
}

type linuxIoctl struct{}

func (linuxIoctl) setTimeout(fd, seconds int) error {
	return unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, seconds)
}

func (linuxIoctl) getTimeout(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT) }

// OpenWatchdog opens the watchdog device at path and sets its timeout
// (whole seconds, at least 1). The timer runs from here on.
func OpenWatchdog(path string, timeout time.Duration) (*LinuxWatchdog, error) {
	return openWatchdog(path, timeout, linuxIoctl{})
}

func openWatchdog(path string, timeout time.Duration, io ioctler) (*LinuxWatchdog, error) {
	secs := int(timeout / time.Second)
	if secs < 1 || timeout%time.Second != 0 {
		return nil, fmt.Errorf("agent: watchdog.timeout %v: give whole seconds, at least 1s (the device counts seconds)", timeout)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		hint := "is the driver loaded (softdog, iTCO_wdt, ipmi_watchdog) and the device passed into the agent's container?"
		if errors.Is(err, unix.EBUSY) {
			hint = "another process holds it open (a second agent, or wdmd/watchdogd): only one may"
		}
		return nil, fmt.Errorf("agent: watchdog.device %s: %w: %s", path, err, hint)
	}
	fd := int(f.Fd())
	if err := io.setTimeout(fd, secs); err != nil {
		_ = f.Close() // without the magic close: the timer, if it started, runs on
		return nil, fmt.Errorf("agent: watchdog.device %s does not take a timeout of %ds: %w (it is not a watchdog, or its driver cannot; set watchdog.timeout to what it supports)", path, secs, err)
	}
	got, err := io.getTimeout(fd)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("agent: watchdog.device %s: reading its timeout back: %w", path, err)
	}
	if got < secs {
		// A shorter timer is safe for vigil (the host resets sooner)
		// but resets a healthy host whose grants come slower: refuse.
		_ = f.Close()
		return nil, fmt.Errorf("agent: watchdog.device %s set its timeout to %ds, below watchdog.timeout %ds: set watchdog.timeout to %ds or less", path, got, secs, got)
	}
	return &LinuxWatchdog{path: path, f: f, ioctl: io, timeout: time.Duration(got) * time.Second}, nil
}

// Keepalive feeds the timer.
func (w *LinuxWatchdog) Keepalive() error {
	if _, err := w.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("agent: feeding watchdog %s: %w", w.path, err)
	}
	return nil
}

// Disarm writes the magic character and closes the device.
func (w *LinuxWatchdog) Disarm() error {
	if _, err := w.f.Write([]byte("V")); err != nil {
		_ = w.f.Close()
		return fmt.Errorf("agent: disarming watchdog %s: %w (its timer runs on: the host resets)", w.path, err)
	}
	return w.f.Close()
}

// Abandon closes the device without the magic character.
func (w *LinuxWatchdog) Abandon() error { return w.f.Close() }

// Timeout is the timeout the device reported.
func (w *LinuxWatchdog) Timeout() time.Duration { return w.timeout }

// BootTime reads CLOCK_BOOTTIME: time since boot, suspend included, the
// same for every process of the boot. The contract's clock.
func BootTime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("agent: reading CLOCK_BOOTTIME: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
