package fence

import (
	"context"
	"sync"
)

// Slot limits how many actions run at once on one physical device, like
// Pacemaker's pcmk_action_limit (default 1): a PDU or a chassis manager
// that fences several hosts is a member of each host's topology, and most
// such devices mishandle two sessions at once. Members that drive the same
// device share its Slot; a nil Slot limits nothing.
type Slot chan struct{}

// DefaultActionLimit is the number of actions a shared device runs at once.
const DefaultActionLimit = 1

// acquire waits for a free place or ctx's end.
func (s Slot) acquire(ctx context.Context) error {
	if s == nil {
		return nil
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s Slot) release() {
	if s != nil {
		<-s
	}
}

// Slots hands out one Slot per device key (what identifies the physical
// device: driver and address, or endpoint). Its zero value uses
// DefaultActionLimit. It is safe for concurrent use.
type Slots struct {
	// Limit is the number of actions per device; 0 means DefaultActionLimit.
	Limit int

	// mu guards m.
	mu sync.Mutex
	m  map[string]Slot
}

// For returns key's Slot, the same one on every call.
func (s *Slots) For(key string) Slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Slot{}
	}
	if slot, ok := s.m[key]; ok {
		return slot
	}
	limit := s.Limit
	if limit <= 0 {
		limit = DefaultActionLimit
	}
	slot := make(Slot, limit)
	s.m[key] = slot
	return slot
}

// ReadStatus is the member's device Status within its Slot: a status read
// of a shared device (a PDU) waits for the fence running on it, as every
// other action of the device does.
func (m Member) ReadStatus(ctx context.Context) (Status, error) {
	if err := m.Slot.acquire(ctx); err != nil {
		return StatusUnknown, err
	}
	defer m.Slot.release()
	return m.Device.Status(ctx)
}
