package pool

import (
	"errors"
	"fmt"
	"slices"
)

// A member's metadata (memberlist's node meta, gossiped with its alive
// messages) says which pool key generations it holds, so that every member
// can tell when all of them can open the newest (Primary):
//
//	version(1)=1 count(1)=1..2 id(4, big-endian)...
//
// ids distinct, from 1, newest first. Strict: one encoding per value.

const metaVersion = 1

// ErrMeta: a member's metadata is not a vigil pool member's (memberlist
// then refuses its alive message: it never becomes a member).
var ErrMeta = errors.New("pool: member metadata")

func encodeMeta(gens []uint32) []byte {
	b := []byte{metaVersion, byte(len(gens))}
	for _, g := range gens {
		b = append(b, byte(g>>24), byte(g>>16), byte(g>>8), byte(g))
	}
	return b
}

// decodeMeta reads a member's metadata: the generations it holds, newest
// first.
func decodeMeta(b []byte) ([]uint32, error) {
	switch {
	case len(b) < 2:
		return nil, fmt.Errorf("%w: %d bytes", ErrMeta, len(b))
	case b[0] != metaVersion:
		return nil, fmt.Errorf("%w: version %d, this agent reads %d", ErrMeta, b[0], metaVersion)
	case b[1] < 1 || b[1] > 2:
		return nil, fmt.Errorf("%w: %d key generations; a member holds one, or two while rotating", ErrMeta, b[1])
	case len(b) != 2+4*int(b[1]):
		return nil, fmt.Errorf("%w: %d bytes for %d generations", ErrMeta, len(b), b[1])
	}
	gens := make([]uint32, b[1])
	for i := range gens {
		p := b[2+4*i:]
		gens[i] = uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
	}
	if slices.Contains(gens, 0) || (len(gens) == 2 && gens[0] <= gens[1]) {
		return nil, fmt.Errorf("%w: generations %v: want distinct ids from 1, newest first", ErrMeta, gens)
	}
	return gens, nil
}

// Primary is the generation a member holding held (newest first)
// encrypts with, given what the other members it knows hold: the newest
// it holds that every one of them holds too, so that no member is sent
// what it cannot open; knowing no other member (it is joining), or with
// none in common (a rotation done out of order), its oldest, which the
// members it could reach before the rotation still hold (and a joiner that
// finds no seed so tries the other: Pool.Rejoin). It is memberlist's
// install, use, remove done by the pool itself: a host's new key file
// installs the next generation, the pool uses it once every member has it,
// and the file after the retirement removes the old one.
func Primary(held []uint32, others [][]uint32) uint32 {
	if len(others) == 0 {
		return held[len(held)-1]
	}
	for _, g := range held {
		all := true
		for _, m := range others {
			if !slices.Contains(m, g) {
				all = false
				break
			}
		}
		if all {
			return g
		}
	}
	return held[len(held)-1]
}
