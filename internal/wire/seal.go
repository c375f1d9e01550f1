package wire

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// A packet:
//
//	version  1 byte   (Version)
//	kind     1 byte
//	key id   4 bytes  big-endian: the generation that seals it
//	host     1 byte length, 1..255 bytes: whose key seals it
//	nonce    24 bytes, random
//	sealed   the body (Encode), XChaCha20-Poly1305, 16-byte tag
//
// Everything before the nonce is the AEAD's additional data: in the clear
// (a receiver needs the host and key id to pick the key, a relaying peer the
// host to forward to) but authenticated with the body. XChaCha20's 192-bit
// nonce may be drawn at random for every packet without counting: several
// controller processes and the agent seal under one host key, and nothing
// they share could number their packets.

// Version is the wire format this package writes and reads. A new field or
// meaning is a new version; a receiver refuses versions it does not know.
// 2: grants carry the leader's isolation and watchdog timeouts.
const Version = 2

const (
	nonceSize = chacha20poly1305.NonceSizeX
	tagSize   = chacha20poly1305.Overhead
	maxHost   = 255
	// MaxPacket is the largest packet sealed or opened: one UDP datagram.
	MaxPacket = 65507
)

// Errors of Seal and Open. A refusal always wraps one of these (or
// ErrMalformed, ErrUnknownKey, ErrUnknownHost) and says why.
var (
	// ErrForged: the packet does not authenticate: altered, truncated,
	// forged, or sealed with another key of that id.
	ErrForged = errors.New("wire: packet does not authenticate")
	// ErrVersion: a wire format version this side does not read.
	ErrVersion = errors.New("wire: unknown version")
	// ErrTooLarge: a message that does not fit one packet.
	ErrTooLarge = errors.New("wire: message too large")
)

// Header is a packet's clear part: authenticated by Open, not by Peek.
type Header struct {
	Version byte
	Kind    Kind
	KeyID   uint32
	// Host is whose key seals the packet: the sender of an upstream
	// message, the addressee of a downstream one, the forwarding peer of a
	// relay.
	Host string
}

// Packet is an opened packet.
type Packet struct {
	Header
	Nonce [nonceSize]byte
	Msg   Message
}

// Peek reads a packet's header without opening it: what a peer uses to
// see where a packet it relays goes. Nothing in it is authenticated.
func Peek(b []byte) (Header, error) {
	h, _, err := peek(b)
	return h, err
}

// peek returns the header and its length.
func peek(b []byte) (Header, int, error) {
	if len(b) < 7 {
		return Header{}, 0, fmt.Errorf("%w: %d bytes, not a packet", ErrMalformed, len(b))
	}
	h := Header{Version: b[0], Kind: Kind(b[1]), KeyID: binary.BigEndian.Uint32(b[2:6])}
	if h.Version != Version {
		return h, 0, fmt.Errorf("%w: version %d; this side reads version %d (run one vigil version on both ends, or upgrade this one)", ErrVersion, h.Version, Version)
	}
	n := int(b[6])
	if n == 0 || len(b) < 7+n {
		return h, 0, fmt.Errorf("%w: host name of %d bytes in a packet of %d", ErrMalformed, n, len(b))
	}
	h.Host = string(b[7 : 7+n])
	return h, 7 + n, nil
}

// Seal seals m with k, host's key. Each call draws a new nonce: seal every
// send on its own.
func Seal(k Key, host string, m Message) ([]byte, error) {
	var nonce [nonceSize]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	return sealNonce(k, host, m, nonce)
}

// sealNonce is Seal with a given nonce: for the tests' fixed seeds only.
func sealNonce(k Key, host string, m Message, nonce [nonceSize]byte) ([]byte, error) {
	if k.aead == nil {
		return nil, fmt.Errorf("wire: sealing with no key")
	}
	if host == "" || len(host) > maxHost {
		return nil, fmt.Errorf("wire: host name %q: give 1 to %d bytes", host, maxHost)
	}
	body := Encode(m)
	n := 7 + len(host)
	size := n + nonceSize + len(body) + tagSize
	if size > MaxPacket {
		return nil, fmt.Errorf("%w: %s of %d bytes, at most %d fit a packet", ErrTooLarge, m.Kind(), size, MaxPacket)
	}
	b := make([]byte, n+nonceSize, size)
	b[0], b[1] = Version, byte(m.Kind())
	binary.BigEndian.PutUint32(b[2:6], k.ID)
	b[6] = byte(len(host))
	copy(b[7:], host)
	copy(b[n:], nonce[:])
	return k.aead.Seal(b, b[n:n+nonceSize], body, b[:n]), nil
}

// Open authenticates and decodes a packet with the key keys give for its
// host and key id. It says nothing of freshness: that is the Gate's.
func Open(keys Keys, b []byte) (Packet, error) {
	if len(b) > MaxPacket {
		return Packet{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxPacket)
	}
	h, n, err := peek(b)
	if err != nil {
		return Packet{}, err
	}
	k, err := keys.Lookup(h.Host, h.KeyID)
	if err != nil {
		return Packet{}, err
	}
	if len(b) < n+nonceSize+tagSize {
		return Packet{}, fmt.Errorf("%w: %d bytes, too short for a sealed %s", ErrForged, len(b), h.Kind)
	}
	p := Packet{Header: h, Nonce: [nonceSize]byte(b[n : n+nonceSize])}
	body, err := k.aead.Open(nil, p.Nonce[:], b[n+nonceSize:], b[:n])
	if err != nil {
		return Packet{}, fmt.Errorf("%w: %s from %s with key id %d", ErrForged, h.Kind, h.Host, h.KeyID)
	}
	if p.Msg, err = Decode(h.Kind, body); err != nil {
		return Packet{}, fmt.Errorf("%s from %s: %w", h.Kind, h.Host, err)
	}
	return p, nil
}

// WrapRelay seals another host's packet inner in a Relay with the key of
// relayer, which forwards it: a peer forwarding an agent's upstream packet
// to the controller, or the controller sending a downstream packet through
// that peer. inner travels untouched; a relay holds no relay.
func WrapRelay(k Key, relayer string, inner []byte) ([]byte, error) {
	h, err := Peek(inner)
	if err != nil {
		return nil, fmt.Errorf("wire: relaying: %w", err)
	}
	if h.Kind == KindRelay || h.Host == relayer {
		return nil, fmt.Errorf("%w: %s relays a %s of %s: a relay carries another host's report, stop notice, observations, grant, ack or retry", ErrMalformed, relayer, h.Kind, h.Host)
	}
	return Seal(k, relayer, Relay{Inner: inner})
}

// OpenDown opens a packet that reached an agent: a grant, ack or retry
// addressed to it, or a relay from the controller whose inner packet (a
// downstream one for another host) it is to hand on, unopened, to
// Peek(inner).Host. Anything else is refused.
func OpenDown(keys HostKeys, b []byte) (Packet, error) {
	p, err := Open(keys, b)
	if err != nil {
		return Packet{}, err
	}
	if r, ok := p.Msg.(Relay); ok {
		h, err := Peek(r.Inner)
		if err != nil {
			return Packet{}, fmt.Errorf("relay for %s: %w", keys.Host(), err)
		}
		if !h.Kind.Downstream() || h.Host == keys.Host() {
			return Packet{}, fmt.Errorf("%w: a relay to %s holds a %s for %s", ErrUnexpected, keys.Host(), h.Kind, h.Host)
		}
		return p, nil
	}
	if !p.Kind.Downstream() {
		return Packet{}, fmt.Errorf("%w: a %s reached the agent of %s", ErrUnexpected, p.Kind, p.Host)
	}
	return p, nil
}
