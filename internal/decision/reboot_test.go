package decision

import (
	"testing"
	"time"
)

// A heartbeat proves the known boot ended only when it comes, steadily,
// from a boot vigil never heard of, that runs no guest behind its gate.
func TestRebootProof(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.IsolationTimeout, cfg.WatchdogTimeout = 10*time.Second, 10*time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	h := e.hosts["cmp1"]
	h.self.BootID = "b1"
	beats := func(at time.Time, b StorageBoot, n uint64) {
		e.Step(at, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": n}, Boots: map[string]StorageBoot{"cmp1": b}})
	}
	b2 := StorageBoot{BootID: "b2", Guests: 0, Gated: true}
	for i := range 3 {
		beats(t0.Add(time.Duration(i)*cfg.StorageTimeout/2), b2, uint64(i+1))
	}
	now := t0.Add(cfg.StorageTimeout)
	if _, ok := e.rebootProof(h, now); !ok {
		t.Fatal("a new boot's steady heartbeat, no guests, gate installed: no proof")
	}
	for _, tc := range []struct {
		name  string
		apply func()
	}{
		{"the new boot runs guests", func() { h.storageBoot.Guests = 1 }},
		{"no gate installed", func() { h.storageBoot.Gated = false }},
		{"the heartbeat is the known boot's", func() { h.storageBoot.BootID = "b1" }},
		{"vigil placed the new boot", func() { h.grantBoot = "b2" }},
		{"no boot known", func() { h.self.BootID = "" }},
		{"no boot in the record (an older agent)", func() { h.storageBoot.BootID = "" }},
		{"this leader heard the new boot", func() { h.heardBoot("b2", t0) }},
		{"a predecessor may still hold a grant to it", func() { e.leaderSince = now.Add(-cfg.IsolationTimeout) }},
	} {
		saved, savedGrant, savedSelf, savedSince := h.storageBoot, h.grantBoot, h.self.BootID, e.leaderSince
		tc.apply()
		if _, ok := e.rebootProof(h, now); ok {
			t.Errorf("%s: proof", tc.name)
		}
		h.storageBoot, h.grantBoot, h.self.BootID, e.leaderSince = saved, savedGrant, savedSelf, savedSince
		delete(h.boots, "b2")
	}
	// Two writers under one name (a cloned config): the records alternate
	// between the boots, and never prove anything.
	for i := range 10 {
		b := b2
		if i%2 == 0 {
			b = StorageBoot{BootID: "b1", Guests: 3, Gated: true}
		}
		beats(now.Add(time.Duration(i)*time.Second), b, uint64(10+i))
		if _, ok := e.rebootProof(h, now.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("alternating writers, read %d: proof", i)
		}
	}
	// A stalled heartbeat proves nothing either (the silence path judges it).
	if _, ok := e.rebootProof(h, now.Add(time.Hour)); ok {
		t.Fatal("a heartbeat an hour old: proof")
	}
}
