package agent

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Device is a watchdog device not yet open. Open touches it: it starts the
// timer when it is stopped, and some drivers ping it on every open; the
// Keeper opens it only right after its clock found a valid grant.
type Device interface {
	Open() (Watchdog, error)
}

// Watchdog is an open watchdog device: the hardware timer that resets the
// host unless it is fed. The contract decides when it may be touched
// (Contract.Feed) and when it may be disarmed (Contract.Acked); the device
// only does what it is told. Every method but Timeout may restart the
// timer (docs/architecture.md, "The device itself").
type Watchdog interface {
	// Keepalive feeds it: the timer starts again.
	Keepalive() error
	// Disarm stops the timer for good (the magic close). Only after the
	// leader acknowledged a clean stop.
	Disarm() error
	// Abandon closes the device without disarming it. Linux pings the
	// timer as it does, and the timer runs on from there: what every exit
	// of the process but an acknowledged clean stop does.
	Abandon() error
	// Timeout reads the device's timeout (WDIOC_GETTIMEOUT), touching
	// nothing.
	Timeout() (time.Duration, error)
	// SetTimeout asks for a timeout (WDIOC_SETTIMEOUT, which pings the
	// timer) and returns the one the device set (drivers round).
	SetTimeout(time.Duration) (time.Duration, error)
	// Options reads what the driver says of itself (WDIOC_GETSUPPORT's
	// options, unix.WDIOF_*), touching nothing.
	Options() (uint32, error)
}

// LinuxDevice is a Linux watchdog device (/dev/watchdog, the watchdog
// core's API: Documentation/watchdog/watchdog-api.rst). Opening it starts
// the timer; any write feeds it; writing "V" before the close disarms it,
// unless the driver was built or loaded with nowayout, which vigil leaves
// to the operator (the timer then runs on after an acknowledged stop too:
// the host resets, the safe direction). Closing it any other way, the
// kernel's close at the process's exit included, pings it.
type LinuxDevice struct {
	Path  string
	ioctl ioctler // nil: the real ioctls
}

// ioctler is the two watchdog ioctls vigil uses: the seam that lets the
// tests check them on a machine without a watchdog device.
type ioctler interface {
	setTimeout(fd int, seconds int) error
	getTimeout(fd int) (int, error)
	options(fd int) (uint32, error)
}

type linuxIoctl struct{}

func (linuxIoctl) setTimeout(fd, seconds int) error {
	return unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, seconds)
}

func (linuxIoctl) getTimeout(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT) }

func (linuxIoctl) options(fd int) (uint32, error) {
	info, err := unix.IoctlGetWatchdogInfo(fd)
	if err != nil {
		return 0, err
	}
	return info.Options, nil
}

// Check says whether Path looks like a watchdog device (a character
// device), without opening it: opening starts the timer, which only a
// granted agent may do. For start-up and `vigil agent --check`.
func (d LinuxDevice) Check() error {
	fi, err := os.Stat(d.Path)
	if err != nil {
		return fmt.Errorf("agent: watchdog.device %s: %w: is the driver loaded (softdog, iTCO_wdt, ipmi_watchdog) and the device passed into the agent's container?", d.Path, err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 && d.ioctl == nil {
		return fmt.Errorf("agent: watchdog.device %s is not a character device: set it to the watchdog's device node, e.g. /dev/watchdog", d.Path)
	}
	return nil
}

// Open opens the device; the timer runs from here on.
func (d LinuxDevice) Open() (Watchdog, error) {
	f, err := os.OpenFile(d.Path, os.O_WRONLY, 0)
	if err != nil {
		hint := "is the driver loaded (softdog, iTCO_wdt, ipmi_watchdog) and the device passed into the agent's container?"
		if errors.Is(err, unix.EBUSY) {
			hint = "another process holds it open (a second agent with another state_dir, or wdmd/watchdogd): only one may"
		}
		return nil, fmt.Errorf("agent: watchdog.device %s: %w: %s", d.Path, err, hint)
	}
	io := d.ioctl
	if io == nil {
		io = linuxIoctl{}
	}
	return &LinuxWatchdog{path: d.Path, f: f, ioctl: io}, nil
}

// LinuxWatchdog is an open Linux watchdog device.
type LinuxWatchdog struct {
	path  string
	f     *os.File
	ioctl ioctler
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

// Timeout reads the device's timeout.
func (w *LinuxWatchdog) Timeout() (time.Duration, error) {
	s, err := w.ioctl.getTimeout(int(w.f.Fd()))
	if err != nil {
		return 0, fmt.Errorf("agent: watchdog.device %s: reading its timeout: %w (it is not a watchdog?)", w.path, err)
	}
	return time.Duration(s) * time.Second, nil
}

// Options reads the driver's options.
func (w *LinuxWatchdog) Options() (uint32, error) {
	o, err := w.ioctl.options(int(w.f.Fd()))
	if err != nil {
		return 0, fmt.Errorf("agent: watchdog.device %s: reading what its driver supports (WDIOC_GETSUPPORT): %w (it is not a watchdog?)", w.path, err)
	}
	return o, nil
}

// SetTimeout sets the timeout (whole seconds, at least 1) and reads back
// what the device made of it.
func (w *LinuxWatchdog) SetTimeout(d time.Duration) (time.Duration, error) {
	secs := int(d / time.Second)
	if secs < 1 || d%time.Second != 0 {
		return 0, fmt.Errorf("agent: watchdog.timeout %v: give whole seconds, at least 1s (the device counts seconds)", d)
	}
	if err := w.ioctl.setTimeout(int(w.f.Fd()), secs); err != nil {
		return 0, fmt.Errorf("agent: watchdog.device %s does not take a timeout of %ds: %w (it is not a watchdog, or its driver cannot; set watchdog.timeout to what it supports)", w.path, secs, err)
	}
	return w.Timeout()
}

// KernelWatchdog is a model of Linux's watchdog core (drivers/watchdog/
// watchdog_dev.c) for the simulator and the tests, where no device exists:
// open starts a stopped timer (and, with PingOnOpen, pings a running one,
// as drivers before the core did), a write and WDIOC_SETTIMEOUT ping it,
// the magic close stops it, any other close pings it ("watchdog did not
// stop!"), and only one process may hold it open. Times are the host's
// real time, from Now.
type KernelWatchdog struct {
	Now func() time.Duration
	// Default is the driver's timeout before anyone sets one (softdog:
	// 60 s); Round, if set, is what the driver makes of a requested one.
	Default    time.Duration
	Round      func(time.Duration) time.Duration
	PingOnOpen bool
	// Support is the driver's WDIOC_GETSUPPORT options; 0 means a
	// resetting watchdog with magic close that takes timeouts (softdog's).
	Support uint32

	active, open bool
	timeout      time.Duration
	last         time.Duration // the last ping or start
	handle       *kernelHandle
	// Pings counts every restart of the timer after it started, by cause:
	// "open", "write", "settimeout", "release".
	Pings map[string]int
}

// Active reports whether the timer runs, and when it last started again.
func (k *KernelWatchdog) Active() (bool, time.Duration, time.Duration) {
	return k.active, k.last, k.timeout
}

// Held reports whether a process holds the device open.
func (k *KernelWatchdog) Held() bool { return k.open }

// Reset is the host's reset (or power loss): the timer stops, nothing holds
// the device, and its timeout is the driver's default again.
func (k *KernelWatchdog) Reset() {
	if k.handle != nil {
		k.handle.closed = true
	}
	k.active, k.open, k.handle, k.timeout = false, false, nil, 0 // the driver's default again
}

// Exit is the kernel closing the device for a process that ended holding
// it (crash, kill): as any close without the magic, it pings the timer.
func (k *KernelWatchdog) Exit() {
	if k.handle != nil {
		_ = k.handle.Abandon()
	}
}

// LateWrite is a write whose check passed before its process was stopped
// and that lands now: it pings like any write, if the process still holds
// the device.
func (k *KernelWatchdog) LateWrite() {
	if k.open {
		k.ping("write")
	}
}

func (k *KernelWatchdog) ping(cause string) {
	if !k.active {
		return
	}
	k.last = k.Now()
	if k.Pings == nil {
		k.Pings = map[string]int{}
	}
	k.Pings[cause]++
}

// Open opens the device: EBUSY while another process holds it.
func (k *KernelWatchdog) Open() (Watchdog, error) {
	if k.open {
		return nil, fmt.Errorf("agent: watchdog.device (model): %w: another process holds it open", unix.EBUSY)
	}
	k.open = true
	switch {
	case !k.active:
		k.active, k.last = true, k.Now()
		if k.timeout == 0 {
			k.timeout = k.Default
		}
	case k.PingOnOpen:
		k.ping("open")
	}
	k.handle = &kernelHandle{k: k}
	return k.handle, nil
}

type kernelHandle struct {
	k      *KernelWatchdog
	closed bool
}

var errClosed = errors.New("agent: watchdog device (model): closed")

func (h *kernelHandle) Keepalive() error {
	if h.closed {
		return errClosed
	}
	h.k.ping("write")
	return nil
}

func (h *kernelHandle) close() {
	h.closed, h.k.open, h.k.handle = true, false, nil
}

func (h *kernelHandle) Disarm() error {
	if h.closed {
		return errClosed
	}
	h.close()
	h.k.active = false
	return nil
}

func (h *kernelHandle) Abandon() error {
	if h.closed {
		return errClosed
	}
	h.close()
	h.k.ping("release")
	return nil
}

// Options is the driver's Support, or softdog's.
func (h *kernelHandle) Options() (uint32, error) {
	if h.closed {
		return 0, errClosed
	}
	if h.k.Support != 0 {
		return h.k.Support, nil
	}
	return unix.WDIOF_SETTIMEOUT | unix.WDIOF_MAGICCLOSE | unix.WDIOF_KEEPALIVEPING, nil
}

func (h *kernelHandle) Timeout() (time.Duration, error) {
	if h.closed {
		return 0, errClosed
	}
	return h.k.timeout, nil
}

func (h *kernelHandle) SetTimeout(d time.Duration) (time.Duration, error) {
	if h.closed {
		return 0, errClosed
	}
	if h.k.Round != nil {
		d = h.k.Round(d)
	}
	h.k.timeout = d
	h.k.ping("settimeout")
	return d, nil
}

// BootTime reads CLOCK_BOOTTIME: time since boot, suspend included, the
// same for every process of the boot. The contract's clock.
func BootTime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("agent: reading CLOCK_BOOTTIME: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
