// Package heartbeat is the storage heartbeat: every agent writes a small
// record (host, boot, a counter that moves each interval, its running
// guests, when it last held a grant) to the shared storage its guests'
// disks live on, and the controller reads every host's in one pass without
// contacting any host. A counter that moves says the host is alive and can
// still write its storage, even cut off from the controllers on every
// network; a counter that stops, with everything else silent, says dead
// (vSphere's datastore heartbeat, in Ceph's terms). A host blocklisted by
// a fence cannot write it either: the fence's own witness.
//
// Two stores: Ceph RADOS (omap keys in a few shard objects of one pool,
// -tags pacific) and a shared directory (NFS-style instance storage).
package heartbeat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Beat is one host's heartbeat record.
type Beat struct {
	Host   string `json:"h"`
	BootID string `json:"b"`
	// Seq moves at every write of the boot (the engine compares it with
	// the last read: moved or not). A restarted agent continues from the
	// record it reads back, so a restart does not look like a stop.
	Seq    uint64 `json:"s"`
	Guests int    `json:"g"` // running guests; -1 unknown
	// Gated: the boot's guest-start gate is installed (libvirt's qemu
	// hook runs vigil gate), so it starts no guest without vigil's grant.
	Gated bool `json:"gt,omitempty"`
	// Granted is how long ago, at the write, the agent last held a
	// grant: an isolated but writing host says for how long.
	Granted time.Duration `json:"a,omitempty"`
	// At is the writer's wall clock: for humans only, never compared.
	At time.Time `json:"t"`
}

// Store is where heartbeats live.
type Store interface {
	// Write replaces host b.Host's record.
	Write(ctx context.Context, b Beat) error
	// Read returns the last record of the host, if any.
	Read(ctx context.Context, host string) (Beat, bool, error)
	// ReadAll returns every host's record, in one pass.
	ReadAll(ctx context.Context) (map[string]Beat, error)
}

// Input is what one read of every heartbeat tells the engine: the
// counters, or OK false when the read failed (the engine then cannot tell
// silent from dead by storage, and holds).
func Input(beats map[string]Beat, err error) decision.StorageHeartbeats {
	if err != nil {
		return decision.StorageHeartbeats{}
	}
	c := make(map[string]uint64, len(beats))
	boots := make(map[string]decision.StorageBoot, len(beats))
	for h, b := range beats {
		c[h] = b.Seq
		if b.BootID != "" {
			boots[h] = decision.StorageBoot{BootID: b.BootID, Guests: b.Guests, Gated: b.Gated}
		}
	}
	return decision.StorageHeartbeats{OK: true, Counters: c, Boots: boots}
}

// Writer is the agent's side: each Beat moves the counter.
type Writer struct {
	store  Store
	host   string
	boot   string
	seq    uint64
	loaded bool
	// Gated, if set, says at each write whether the guest-start gate is
	// installed (agent.GateInstalled).
	Gated func() bool
}

// NewWriter writes host's heartbeats on boot to store.
func NewWriter(store Store, host, boot string) *Writer {
	return &Writer{store: store, host: host, boot: boot}
}

// Beat writes the next heartbeat. The first of a process reads the
// record back and continues its counter, so a restarted agent's
// heartbeat keeps moving forward.
func (w *Writer) Beat(ctx context.Context, guests int, granted time.Duration, now time.Time) error {
	if !w.loaded {
		b, ok, err := w.store.Read(ctx, w.host)
		if err != nil {
			return fmt.Errorf("heartbeat: reading %s's record back: %w", w.host, err)
		}
		if ok {
			w.seq = b.Seq
		}
		w.loaded = true
	}
	w.seq++
	gated := w.Gated != nil && w.Gated()
	return w.store.Write(ctx, Beat{Host: w.host, BootID: w.boot, Seq: w.seq, Guests: guests, Gated: gated, Granted: granted, At: now.UTC()})
}

func encode(b Beat) []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(err) // plain data
	}
	return out
}

func decode(host string, v []byte) (Beat, error) {
	var b Beat
	if err := json.Unmarshal(v, &b); err != nil {
		return Beat{}, fmt.Errorf("heartbeat: %s's record: %w", host, err)
	}
	if b.Host != host {
		return Beat{}, fmt.Errorf("heartbeat: the record under %s names host %q", host, b.Host)
	}
	return b, nil
}
