package probe

import (
	"encoding/hex"
	"sort"
	"strconv"
)

// Lifecycle is a libvirt domain lifecycle event (virDomainEventType).
type Lifecycle int32

// The lifecycle events, numbered as libvirt numbers them.
const (
	Defined Lifecycle = iota
	Undefined
	Started
	Suspended
	Resumed
	Stopped
	Shutdown
	PMSuspended
	Crashed
)

var lifecycleNames = [...]string{"defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed"}

func (l Lifecycle) String() string {
	if l >= 0 && int(l) < len(lifecycleNames) {
		return lifecycleNames[l]
	}
	return "lifecycle(" + strconv.Itoa(int(l)) + ")"
}

// Details of a Stopped event (virDomainEventStoppedDetailType).
const (
	StoppedShutdown  int32 = 0 // the guest shut down
	StoppedDestroyed int32 = 1 // destroyed by the host
	StoppedCrashed   int32 = 2 // the guest crashed
	StoppedMigrated  int32 = 3 // migrated away
	StoppedSaved     int32 = 4 // saved to a file
	StoppedFailed    int32 = 5 // the hypervisor (QEMU) died
)

// Guest is one active domain. Nova names the domain's UUID after the
// instance, so UUID is the Nova instance UUID.
type Guest struct {
	UUID string
	Name string // libvirt's domain name (instance-0000002a)
}

// GuestEvent is one lifecycle event of a guest.
type GuestEvent struct {
	Guest
	Event  Lifecycle
	Detail int32 // the event's detail: for Stopped, StoppedFailed when QEMU died
}

// activeAfter tells what event e says about its guest: whether it is
// active (its QEMU process runs and can write its disks) afterwards, and
// whether e says anything about that at all. Only Stopped ends a guest:
// one that crashed with on_crash=preserve, is paused, is shutting down, or
// was undefined while running (it goes on as a transient domain) still
// runs; if QEMU then goes, a Stopped event follows.
func activeAfter(e Lifecycle) (active, known bool) {
	switch e {
	case Stopped:
		return false, true
	case Defined, Undefined:
		return false, false // a definition changes; whether it runs does not
	default:
		return true, true // only an active domain starts, pauses, resumes, shuts down or crashes
	}
}

// guestSet is the active guests, by UUID.
type guestSet map[string]Guest

func newGuestSet(gs []Guest) guestSet {
	s := make(guestSet, len(gs))
	for _, g := range gs {
		s[g.UUID] = g
	}
	return s
}

// apply updates s with e and tells whether the set of active guests
// changed. Applied in order to the list taken after the subscription began,
// the events since then give the set after the last of them: each one sets
// its guest's state, whatever the state was.
func (s guestSet) apply(e GuestEvent) bool {
	active, known := activeAfter(e.Event)
	if !known {
		return false
	}
	_, was := s[e.UUID]
	if active {
		s[e.UUID] = e.Guest
	} else {
		delete(s, e.UUID)
	}
	return was != active
}

// uuids returns the set's UUIDs, sorted.
func (s guestSet) uuids() []string {
	out := make([]string, 0, len(s))
	for u := range s {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// formatUUID writes a libvirt UUID in the canonical lowercase form Nova
// uses for instance ids.
func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
