package fence

import (
	"context"
	"errors"
)

// Status is what a device reports about its host.
type Status int

const (
	// StatusUnknown means the device answered but the state could not be read.
	StatusUnknown Status = iota
	// StatusOn means the host is powered on / not fenced.
	StatusOn
	// StatusOff means the host is powered off / fenced.
	StatusOff
)

func (s Status) String() string {
	switch s {
	case StatusOn:
		return "on"
	case StatusOff:
		return "off"
	default:
		return "unknown"
	}
}

// Device fences one host. Every method honours ctx's deadline.
type Device interface {
	// Off fences the host and verifies it. It returns a Proof only when the
	// fence is verified; any other outcome is an error.
	Off(ctx context.Context) (Proof, error)
	// On undoes the fence (power on, or remove the blocklist entries).
	On(ctx context.Context) error
	// Status reads the device's view of the host without changing it.
	Status(ctx context.Context) (Status, error)
}

// Errors a driver wraps so callers can tell failures apart with errors.Is.
var (
	ErrUnreachable = errors.New("fence: device unreachable")
	ErrAuth        = errors.New("fence: authentication failed")
	ErrNotVerified = errors.New("fence: fence could not be verified")
	ErrRefused     = errors.New("fence: device refused the command")
)
