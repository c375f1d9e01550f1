package fence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Proof is the evidence a device gives that a fence took effect: typed data
// stored with the incident record, so that a new leader can unfence from the
// record alone, and a one-line Detail for messages and logs.
//
// A driver sets Driver, Detail and the part of its kind: Power for a power
// fence, Blocklist for a storage fence, Kdump for a host found dumping.
type Proof struct {
	Driver string `json:"driver"` // "ipmi", "redfish", "fence-agent", "ceph-blocklist", "kdump", "probe"
	// Detail is the proof for humans, e.g. "chassis power read back off
	// after 1.2s". Never the record to act on: use the typed parts.
	Detail    string          `json:"detail"`
	Power     *PowerProof     `json:"power,omitempty"`
	Blocklist *BlocklistProof `json:"blocklist,omitempty"`
	Kdump     *KdumpProof     `json:"kdump,omitempty"`
}

// String is the proof for messages: "driver: detail".
func (p Proof) String() string { return p.Driver + ": " + p.Detail }

// PowerProof is what a power fence read back.
type PowerProof struct {
	// Reads are the power-state reads that showed the host off, oldest
	// first (consecutive reads when the driver requires several).
	Reads []PowerRead `json:"reads"`
}

// PowerRead is one power-state read.
type PowerRead struct {
	At    time.Time `json:"at"`
	State string    `json:"state"` // Status.String(): "on", "off", "unknown"
}

// KdumpProof is the fence_kdump message that showed the host running its
// kdump kernel: its crashed kernel, and the guests it ran, are gone.
type KdumpProof struct {
	From    string        `json:"from"`    // ip:port it came from, one of the host's addresses
	At      time.Time     `json:"at"`      // when vigil received it, by vigil's clock
	Listen  string        `json:"listen"`  // the address vigil listened on
	Version uint32        `json:"version"` // the message's version (1)
	Waited  time.Duration `json:"waited"`  // from the start of listening to the message
	Ignored int           `json:"ignored"` // datagrams ignored before it (other sources, malformed)
}

// BlocklistProof is what a Ceph blocklist fence did and verified.
type BlocklistProof struct {
	Host string   `json:"host"`
	IPs  []string `json:"ips"` // the host's storage IPs the fence covers
	// Entries are every blocklist entry the fence relies on, vigil's own
	// (Ours) and ones someone else had made.
	Entries []BlocklistEntry `json:"entries"`
	// OSDMapEpoch is the osdmap epoch that carries every entry; every
	// placement group of Pools answered a request made at that epoch or
	// later, so their OSDs enforce the entries.
	OSDMapEpoch uint64   `json:"osdmap_epoch"`
	Pools       []string `json:"pools"`
	PGs         int      `json:"pgs"`     // placement groups that answered at OSDMapEpoch
	Images      []string `json:"images"`  // pool/name checked: no watcher left that is not blocklisted
	Missing     []string `json:"missing"` // images asked for that do not exist
	Owners      []string `json:"owners"`  // lock owners found on the host's IPs
	// BootID is the host's boot id when it was fenced (from the Target):
	// unfencing needs a different one, or an operator's force.
	BootID   string    `json:"boot_id,omitempty"`
	FencedAt time.Time `json:"fenced_at"`
	// Verified is false on the record a failed Off returns: what it added
	// or tried to add, for unfencing, not evidence.
	Verified bool `json:"verified"`
}

// BlocklistEntry is one entry of the OSD blocklist.
type BlocklistEntry struct {
	// Addr is the entry as the mon accepts it: "10.0.0.5:0/0" (every
	// client of the IP), "10.0.0.5:0/3414812" (one client), or with Range
	// a CIDR "10.0.0.5/32".
	Addr  string `json:"addr"`
	Range bool   `json:"range,omitempty"`
	// Until is the expiry the mon listed; zero when the add's reply never
	// came and the entry was not seen since.
	Until time.Time `json:"until,omitzero"`
	// Ours: vigil added it, so unfencing removes it. An entry someone else
	// made is relied on while it lasts but never removed.
	Ours bool `json:"ours"`
	// Expire and SentAt are what vigil asked for and when, recorded before
	// the add is sent: a listing shows an entry whose reply was lost as
	// vigil's when its Until falls within [SentAt+Expire, reply+Expire].
	Expire time.Duration `json:"expire,omitempty"`
	SentAt time.Time     `json:"sent_at,omitzero"`
}

// Target is what the caller knows about the host it asks a device to
// fence. Every field is optional; a storage fence verifies the host's disks
// when they are given.
type Target struct {
	// Instances are the host's instance UUIDs as Nova lists them.
	Instances []string `json:"instances,omitempty"`
	// Disks are storage volumes of the host's instances (e.g. Cinder RBD
	// volumes), "pool/image".
	Disks []string `json:"disks,omitempty"`
	// BootID is the host's boot id before the fence (its agent's), recorded
	// in the proof so that only a new boot lifts a storage fence.
	BootID string `json:"boot_id,omitempty"`
	// Since is when the incident that fences the host opened. A storage
	// fence takes an entry it finds listed with vigil's expiry, made since
	// then, as its own: an earlier add of this incident whose reply, or
	// whose record, was lost (a leader died in between), so that the
	// incident's unfence lifts it. Zero: no entry found listed is vigil's
	// but by this device's own record.
	Since time.Time `json:"since,omitzero"`
}

// TargetedDevice is a device that verifies the fence of the Target's
// resources, not only the host's address: the topology calls OffTarget
// instead of Off when a device has it.
type TargetedDevice interface {
	OffTarget(ctx context.Context, t Target) (Proof, error)
}

// ErrNoResetEvidence: a storage fence may be lifted only when the host has
// rebooted since it was fenced (a new boot id) or an operator forces it.
var ErrNoResetEvidence = errors.New("fence: no evidence the host was reset since it was fenced")

// Release is the caller's case for lifting a host's storage fences.
type Release struct {
	// Proofs are the fence's record (Outcome.Proofs): what to lift.
	Proofs []Proof
	// BootID is the host's boot id now, as its agent reports it.
	BootID string
	// Force is an operator's explicit decision; By names the operator.
	Force bool
	By    string
	// AllEntries removes every blocklist entry on the host's IPs, also
	// those vigil did not add (librbd's lock breaks, other tools').
	AllEntries bool
	// Since is when the first incident whose fences are lifted opened: an
	// entry listed with vigil's expiry made since then is vigil's too (an
	// add whose record was lost with a leader; Target.Since). Zero: only
	// the recorded entries.
	Since time.Time
	// Unmoved: no instance of the host was started elsewhere (its fence
	// was aborted before anything moved), so its guests are their only
	// copies and lifting needs no evidence of a reset.
	Unmoved bool
}

// Reason checks the release against the boot id recorded at fence time and
// says why the fence may be lifted, or fails with ErrNoResetEvidence.
func (r Release) Reason(fencedBootID string) (string, error) {
	switch {
	case r.Force:
		by := r.By
		if by == "" {
			by = "an operator"
		}
		return "forced by " + by, nil
	case r.Unmoved:
		return "no instance was started elsewhere: the host's guests are their only copies", nil
	case fencedBootID == "":
		return "", fmt.Errorf("%w: no boot id was recorded when it was fenced; an operator must force the unfence", ErrNoResetEvidence)
	case r.BootID == "":
		return "", fmt.Errorf("%w: the host's current boot id is unknown", ErrNoResetEvidence)
	case r.BootID == fencedBootID:
		return "", fmt.Errorf("%w: boot id %s is the one recorded at fence time: the host has not rebooted", ErrNoResetEvidence, r.BootID)
	}
	return "new boot: boot id " + r.BootID + " (fenced at boot id " + fencedBootID + ")", nil
}

// Releaser is a device that lifts its fence from a record and evidence,
// not from its own memory: storage fences, whose lifting lets stale
// writers write again. The topology calls Release instead of On when a
// device has it. It returns what it did, for the record.
type Releaser interface {
	Release(ctx context.Context, r Release) (string, error)
}

// MarshalProofs and UnmarshalProofs are the stored form of a fence's
// record: JSON, so that a new leader reads what an old one wrote.
func MarshalProofs(ps []Proof) ([]byte, error) { return json.Marshal(ps) }

// UnmarshalProofs reads what MarshalProofs wrote.
func UnmarshalProofs(b []byte) ([]Proof, error) {
	var ps []Proof
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("fence: stored proofs: %w", err)
	}
	return ps, nil
}

// ErrNotMine: a device was handed a proof another device made.
var ErrNotMine = errors.New("fence: the proof is not this device's")

// Renewer is a device whose fence lapses unless renewed (Ceph blocklist
// entries expire). While an incident is open the controller calls Renew
// periodically with the stored proof and stores the proof it returns; a
// proof of another device fails with ErrNotMine.
type Renewer interface {
	Renew(ctx context.Context, p Proof) (Proof, error)
}
