package wire

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Pool keys. The agents' peer pools (internal/agent/pool: memberlist, one
// pool per network) encrypt and authenticate every packet and stream with
// a key all hosts share: memberlist's keyring is symmetric, so a peer can
// open what another peer sends. Each generation of the cluster secret gives
// one pool key (HKDF-SHA256 of the secret, its own salt, so it is no host's
// key), written into every host's key file beside the host's own key
// (FormatHostKeys). It is the one secret hosts share: a host broken into
// gives away the pools (it can speak in them as any member, answer probes,
// spread gossip), never a host key of another host, nor anything the
// controllers take (every PeerReport travels to them sealed with the
// observer's own host key). docs/architecture.md, "Peer pools".

// PoolKey is one generation of the pools' shared key (AES-256-GCM in
// memberlist's keyring). It never prints.
type PoolKey struct {
	ID uint32
	b  [keySize]byte
}

// Format prints the id only, whatever the verb.
func (k PoolKey) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "pool-key#%d", k.ID) }

// Bytes is a copy of the key, for memberlist's keyring only.
func (k PoolKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// poolKey derives the pool key of s's generation.
func (s Secret) poolKey() PoolKey {
	b, err := hkdf.Key(sha256.New, s.b[:], []byte("vigil pool key v1"), "memberlist keyring", keySize)
	if err != nil {
		panic(err) // only for a length HKDF-SHA256 cannot give
	}
	return PoolKey{ID: s.ID, b: [keySize]byte(b)}
}

// PoolKeys are the pool keys the host's file holds, newest first: as many
// generations as its host keys, or none in a file written before pools
// existed (then the agent runs no pool, and says so).
func (h HostKeys) PoolKeys() []PoolKey { return append([]PoolKey(nil), h.pool...) }

func poolIDs(v []PoolKey) []uint32 {
	var ids []uint32
	for _, k := range v {
		ids = append(ids, k.ID)
	}
	return ids
}
