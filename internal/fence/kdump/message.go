package kdump

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The message format, as fence-agents defines it (agents/kdump/message.h,
// ClusterLabs/fence-agents at 0804740): fence_kdump_send sends, every
// --interval seconds (default 10), one UDP datagram holding a packed struct
// of two 32-bit unsigned integers,
//
//	offset 0  magic    0x1B302A40 (FENCE_KDUMP_MAGIC)
//	offset 4  version  0x1        (FENCE_KDUMP_MSGV1)
//
// 8 bytes and nothing else. Both are assigned in C and sent as they lie in
// memory (init_message and send_message in fence_kdump_send.c, no htonl),
// so the byte order is the sender's: little-endian from x86_64 and
// aarch64, big-endian from s390x. fence_kdump (do_action_off in
// fence_kdump.c) reads sizeof(msg) bytes, compares magic in its own byte
// order and accepts only version 1 from one of its nodes. Parse accepts
// either byte order (a big-endian host fenced from a little-endian
// controller) and exactly 8 bytes: fence_kdump_send never sends more or
// less, and fence_kdump's silent truncation of a longer datagram is not a
// format to accept.
const (
	// Magic is FENCE_KDUMP_MAGIC.
	Magic uint32 = 0x1B302A40
	// VersionV1 is FENCE_KDUMP_MSGV1, the only version there is.
	VersionV1 uint32 = 1
	// MessageLen is sizeof(fence_kdump_msg_t).
	MessageLen = 8
	// DefaultPort is fence_kdump's and fence_kdump_send's --ipport.
	DefaultPort = 7410
)

// Errors of Parse, for errors.Is.
var (
	// ErrMalformed: the datagram is not a fence_kdump message (length or
	// magic).
	ErrMalformed = errors.New("kdump: not a fence_kdump message")
	// ErrVersion: the magic is right but the version is not one vigil
	// knows.
	ErrVersion = errors.New("kdump: unknown fence_kdump message version")
)

// Message is a parsed fence_kdump message.
type Message struct {
	Version uint32
	// BigEndian: the sender's byte order (a big-endian kdump kernel).
	BigEndian bool
}

// Parse reads one datagram's payload as a fence_kdump message.
func Parse(b []byte) (Message, error) {
	if len(b) != MessageLen {
		return Message{}, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), MessageLen)
	}
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(b) == Magic:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(b) == Magic:
		order = binary.BigEndian
	default:
		return Message{}, fmt.Errorf("%w: magic %#08x, want %#08x", ErrMalformed, binary.LittleEndian.Uint32(b), Magic)
	}
	m := Message{Version: order.Uint32(b[4:]), BigEndian: order == binary.BigEndian}
	if m.Version != VersionV1 {
		return Message{}, fmt.Errorf("%w: version %#x, want %#x", ErrVersion, m.Version, VersionV1)
	}
	return m, nil
}
