package cephbl

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vigil-ha/vigil/internal/fence"
)

// Errors of this driver, besides the fence.Err… sentinels it wraps.
var (
	// ErrSelfFence: the driver's own Ceph client address is on one of the
	// host's IPs; blocklisting them would cut off the driver itself.
	ErrSelfFence = errors.New("cephbl: refusing to fence the host the driver runs on")
	// ErrForeignEntry: Remove was given an entry that is not on the host's
	// IPs.
	ErrForeignEntry = errors.New("cephbl: blocklist entry is not on the host's IPs")
	// ErrNoRecord: Release was given no record of this host's blocklist
	// fence and was not asked to remove every entry on the host's IPs.
	ErrNoRecord = errors.New("cephbl: no record of the blocklist entries vigil added")
	// ErrShortLifetime: an entry the fence relies on expires too soon and
	// cannot be renewed without opening a gap or fencing more than the host.
	ErrShortLifetime = errors.New("cephbl: blocklist entry expires too soon")
)

// connectError classifies a failed connect by its errno (positive). At
// login cephx answers EACCES alike for a wrong key, an unknown user and a
// user without mon caps: all three are a credential the operator must fix.
func connectError(user string, errno int, err error) error {
	switch syscall.Errno(errno) {
	case syscall.EACCES, syscall.EPERM:
		return fmt.Errorf("cephbl: connect as client.%s: %w (wrong key, unknown user, or no mon caps): %w", user, fence.ErrAuth, err)
	default: // ETIMEDOUT (no mon answered within ConnectTimeout), ECONNREFUSED, ...
		return fmt.Errorf("cephbl: connect: %w: %w", fence.ErrUnreachable, err)
	}
}

// transient are errnos that mean "could not get an answer", as opposed to
// an answer that says no.
var transient = map[syscall.Errno]bool{
	syscall.ETIMEDOUT:    true,
	syscall.ENOTCONN:     true,
	syscall.ECONNREFUSED: true,
	syscall.ECONNRESET:   true,
	syscall.EHOSTUNREACH: true,
	syscall.ENETUNREACH:  true,
	syscall.ESHUTDOWN:    true, // our own client was blocklisted
	syscall.EINTR:        true,
	syscall.EAGAIN:       true,
}

// commandError classifies a failed mon command or OSD read by its errno
// (positive): no answer is ErrUnreachable, an answer that says no (EINVAL,
// EACCES, ENOENT, ...) is ErrRefused. info is the mon's message.
func commandError(what string, errno int, info string, err error) error {
	sentinel := fence.ErrRefused
	if transient[syscall.Errno(errno)] {
		sentinel = fence.ErrUnreachable
	}
	if info != "" {
		return fmt.Errorf("cephbl: %s: %w: %q: %w", what, sentinel, info, err)
	}
	return fmt.Errorf("cephbl: %s: %w: %w", what, sentinel, err)
}
