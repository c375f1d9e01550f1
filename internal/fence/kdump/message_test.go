package kdump_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/vigil-ha/vigil/internal/fence/kdump"
)

// msg is a message as fence_kdump_send writes it: magic and version in the
// sender's byte order.
func msg(order binary.ByteOrder, magic, version uint32) []byte {
	b := make([]byte, 8)
	order.PutUint32(b, magic)
	order.PutUint32(b[4:], version)
	return b
}

var (
	le = binary.LittleEndian
	be = binary.BigEndian
	// x86Message is what fence_kdump_send on x86_64 sends (pinned against
	// the real one by TestIntegrationRealSenderBytes).
	x86Message = []byte{0x40, 0x2a, 0x30, 0x1b, 0x01, 0x00, 0x00, 0x00}
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		want    kdump.Message
		wantErr error
	}{
		{"x86_64 sender", x86Message, kdump.Message{Version: 1}, nil},
		{"big-endian sender (s390x)", msg(be, kdump.Magic, 1), kdump.Message{Version: 1, BigEndian: true}, nil},
		{"empty", nil, kdump.Message{}, kdump.ErrMalformed},
		{"short: magic only", x86Message[:4], kdump.Message{}, kdump.ErrMalformed},
		{"short by one", x86Message[:7], kdump.Message{}, kdump.ErrMalformed},
		{"trailing byte", append(append([]byte(nil), x86Message...), 0), kdump.Message{}, kdump.ErrMalformed},
		{"two messages in one datagram", append(append([]byte(nil), x86Message...), x86Message...), kdump.Message{}, kdump.ErrMalformed},
		{"wrong magic", msg(le, kdump.Magic^1, 1), kdump.Message{}, kdump.ErrMalformed},
		{"zeros", make([]byte, 8), kdump.Message{}, kdump.ErrMalformed},
		{"magic with its halves swapped", msg(le, 0x2A401B30, 1), kdump.Message{}, kdump.ErrMalformed},
		{"version 0", msg(le, kdump.Magic, 0), kdump.Message{}, kdump.ErrVersion},
		{"version 2", msg(le, kdump.Magic, 2), kdump.Message{}, kdump.ErrVersion},
		{"version 1 in the other byte order", msg(le, kdump.Magic, 0x01000000), kdump.Message{}, kdump.ErrVersion},
		{"mixed byte orders", append(msg(be, kdump.Magic, 1)[:4], x86Message[4:]...), kdump.Message{}, kdump.ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kdump.Parse(tc.in)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Parse(% x) error = %v, want %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("Parse(% x) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzParse: Parse never panics, and what it accepts is exactly a version
// 1 message in one byte order, nothing more.
func FuzzParse(f *testing.F) {
	for _, seed := range [][]byte{
		x86Message, msg(be, kdump.Magic, 1), // valid
		nil, x86Message[:1], x86Message[:4], x86Message[:7], // short
		append(append([]byte(nil), x86Message...), 0xff),    // long
		msg(le, kdump.Magic^0x80000000, 1), make([]byte, 8), // wrong magic
		msg(le, kdump.Magic, 2), msg(be, kdump.Magic, 0xffffffff), // wrong version
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := kdump.Parse(b)
		if err != nil {
			if !errors.Is(err, kdump.ErrMalformed) && !errors.Is(err, kdump.ErrVersion) {
				t.Fatalf("Parse(% x) = %v, not ErrMalformed or ErrVersion", b, err)
			}
			return
		}
		order := binary.ByteOrder(le)
		if m.BigEndian {
			order = be
		}
		if want := msg(order, kdump.Magic, kdump.VersionV1); string(b) != string(want) || m.Version != kdump.VersionV1 {
			t.Fatalf("Parse(% x) accepted %+v; only % x is that message", b, m, want)
		}
	})
}
