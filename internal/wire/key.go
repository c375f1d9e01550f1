package wire

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// Keys, per host. The cluster secret is held by the controllers only; each
// host's key is derived from it (HKDF-SHA256, the host name as the info) and
// handed to that host alone. A host that is broken into gives away its own
// key: the attacker can speak as that host and read what is sent to it, but
// can neither forge another host's reports nor open or forge grants addressed
// to another host. A peer relaying another host's packet holds no key that
// opens it.
//
// Rotation: a secret has an id (a generation, 1 and up), which every packet
// names. A ring holds at most two generations: the current and the previous.
// An agent seals with its newest key; the controller answers with the key the
// message it answers was sealed with (so controllers may take a new
// generation before any host does); both sides open with either.

const keySize = chacha20poly1305.KeySize

// Errors of the key lookup.
var (
	// ErrUnknownKey: the packet names a key id the receiver does not hold
	// (a rotation done out of order, or a generation already retired).
	ErrUnknownKey = errors.New("wire: unknown key id")
	// ErrUnknownHost: the packet names a host whose key the receiver does
	// not hold (not a configured host; for an agent, not itself).
	ErrUnknownHost = errors.New("wire: unknown host")
)

// Secret is one generation of the cluster secret. It never prints.
type Secret struct {
	ID uint32
	b  [keySize]byte
}

// NewSecret draws a new random secret of generation id.
func NewSecret(id uint32) (Secret, error) {
	if id == 0 {
		return Secret{}, fmt.Errorf("wire: key ids start at 1")
	}
	s := Secret{ID: id}
	_, _ = rand.Read(s.b[:]) // never fails (crypto/rand)
	return s, nil
}

// Format prints the id only, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "cluster-secret#%d", s.ID) }

// hostKey derives host's key of s's generation.
func (s Secret) hostKey(host string) [keySize]byte {
	b, err := hkdf.Key(sha256.New, s.b[:], []byte("vigil wire v1 host key"), host, keySize)
	if err != nil {
		panic(err) // only for a length HKDF-SHA256 cannot give
	}
	return [keySize]byte(b)
}

// Key is one generation of one host's key, ready to seal and open. It never
// prints.
type Key struct {
	ID   uint32
	aead cipher.AEAD
}

func newKey(id uint32, b [keySize]byte) Key {
	a, err := chacha20poly1305.NewX(b[:])
	if err != nil {
		panic(err) // only for a wrong key length
	}
	return Key{ID: id, aead: a}
}

// Format prints the id only, whatever the verb.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "key#%d", k.ID) }

// Keys finds the key that opens a packet of host sealed with key id.
type Keys interface {
	Lookup(host string, id uint32) (Key, error)
}

var (
	_ Keys = HostKeys{}
	_ Keys = (*ClusterKeys)(nil)
)

// ring checks a set of generations: one or two, distinct, ids from 1. It
// returns them newest (highest id) first.
func ring[T any](what string, v []T, id func(T) uint32) ([]T, error) {
	if len(v) == 0 || len(v) > 2 {
		return nil, fmt.Errorf("wire: %d %s generations; hold one, or two while rotating (the current and the previous)", len(v), what)
	}
	v = slices.Clone(v)
	slices.SortFunc(v, func(a, b T) int { return int(int64(id(b)) - int64(id(a))) })
	for i, x := range v {
		if id(x) == 0 {
			return nil, fmt.Errorf("wire: %s id 0; key ids start at 1", what)
		}
		if i > 0 && id(x) == id(v[i-1]) {
			return nil, fmt.Errorf("wire: %s id %d given twice", what, id(x))
		}
	}
	return v, nil
}

// HostKeys is what an agent holds: its own host's keys, newest first.
type HostKeys struct {
	host string
	keys []Key
	pool []PoolKey // the same generations, or none (a file older than the pools)
}

// Host is the host whose keys these are.
func (h HostKeys) Host() string { return h.host }

// Newest is the key to seal with (none, which Seal refuses, for the zero
// HostKeys).
func (h HostKeys) Newest() Key {
	if len(h.keys) == 0 {
		return Key{}
	}
	return h.keys[0]
}

// Lookup finds key id of host, which must be h's own.
func (h HostKeys) Lookup(host string, id uint32) (Key, error) {
	if host != h.host {
		return Key{}, fmt.Errorf("%w: a packet for %q reached %q", ErrUnknownHost, host, h.host)
	}
	for _, k := range h.keys {
		if k.ID == id {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("%w: %s holds key ids %v, the packet names %d", ErrUnknownKey, host, h.ids(), id)
}

func (h HostKeys) ids() []uint32 {
	var ids []uint32
	for _, k := range h.keys {
		ids = append(ids, k.ID)
	}
	return ids
}

// HostKeysFrom derives host's keys from the cluster secrets: what an
// operator's tooling puts in the host's key file (FormatHostKeys), and what
// tests use.
func HostKeysFrom(secrets []Secret, host string) (HostKeys, error) {
	s, err := ring("cluster secret", secrets, func(s Secret) uint32 { return s.ID })
	if err != nil {
		return HostKeys{}, err
	}
	if host == "" || len(host) > maxHost {
		return HostKeys{}, fmt.Errorf("wire: host name %q: give 1 to %d bytes", host, maxHost)
	}
	h := HostKeys{host: host}
	for _, x := range s {
		h.keys = append(h.keys, newKey(x.ID, x.hostKey(host)))
		h.pool = append(h.pool, x.poolKey())
	}
	return h, nil
}

// ClusterKeys is what a controller holds: every configured host's keys,
// derived from the cluster secrets once. It is immutable: a rotation or a
// change of hosts builds a new one (Gate.SetKeys).
type ClusterKeys struct {
	ids   []uint32
	hosts map[string][]Key
}

// NewClusterKeys derives the keys of hosts from secrets (one generation, or
// two while rotating). Packets naming any other host are refused unopened,
// so a flood of made-up names costs no derivation.
func NewClusterKeys(secrets []Secret, hosts []string) (*ClusterKeys, error) {
	s, err := ring("cluster secret", secrets, func(s Secret) uint32 { return s.ID })
	if err != nil {
		return nil, err
	}
	c := &ClusterKeys{hosts: make(map[string][]Key, len(hosts))}
	for _, x := range s {
		c.ids = append(c.ids, x.ID)
	}
	for _, h := range hosts {
		hk, err := HostKeysFrom(s, h)
		if err != nil {
			return nil, err
		}
		c.hosts[h] = hk.keys
	}
	return c, nil
}

// Lookup finds key id of host.
func (c *ClusterKeys) Lookup(host string, id uint32) (Key, error) {
	keys, ok := c.hosts[host]
	if !ok {
		return Key{}, fmt.Errorf("%w: %q is not a configured host", ErrUnknownHost, host)
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("%w: %d from %s; this controller holds cluster secret ids %v (give the controllers a new secret before the hosts their keys of it)", ErrUnknownKey, id, host, c.ids)
}
