package wire

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The body encoding: fields in a fixed order per kind and version, unsigned
// integers as minimal uvarints, signed ones zigzagged, strings and lists
// length-prefixed. Decoding is strict: every value has exactly one encoding
// (a minimal varint, the compact form of a string that has one, no trailing
// bytes), so decode(b) succeeding implies encode(decode(b)) == b.

// ErrMalformed: the bytes are not a message of a known shape.
var ErrMalformed = errors.New("wire: malformed")

// enc appends a body.
type enc struct{ b []byte }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) dur(d time.Duration) {
	e.int(int64(d))
}
func (e *enc) byte(v byte) { e.b = append(e.b, v) }
func (e *enc) bytes(v []byte) {
	e.uint(uint64(len(v)))
	e.b = append(e.b, v...)
}

// String forms: the uvarint head h says which. Even h: raw, h/2 bytes.
// formUUID: a canonical lower-case UUID (boot ids, instance UUIDs) as its 16
// bytes. formHex16: 32 lower-case hex digits (agent process ids) as 16 bytes.
// They halve a report with guests.
const (
	formUUID  = 1
	formHex16 = 3
)

func (e *enc) str(s string) {
	if u, ok := parseUUID(s); ok {
		e.uint(formUUID)
		e.b = append(e.b, u[:]...)
		return
	}
	if h, ok := parseHex16(s); ok {
		e.uint(formHex16)
		e.b = append(e.b, h[:]...)
		return
	}
	e.uint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

func (e *enc) strs(v []string) {
	e.uint(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}

// dec reads a body; the first error sticks, and every later read returns
// zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.AppendVarint writes it
}

func (d *dec) dur() time.Duration { return time.Duration(d.int()) }

func (d *dec) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated: %d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	v := d.take(d.uint())
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *dec) str() string {
	h := d.uint()
	switch {
	case d.err != nil:
		return ""
	case h == formUUID:
		return formatUUID(d.take(16))
	case h == formHex16:
		return hex.EncodeToString(d.take(16))
	case h&1 == 1:
		d.fail("unknown string form %d", h)
		return ""
	}
	s := string(d.take(h >> 1))
	if _, ok := parseUUID(s); ok {
		d.fail("a UUID not in its compact form")
	} else if _, ok := parseHex16(s); ok {
		d.fail("a process id not in its compact form")
	}
	return s
}

func (d *dec) strs() []string {
	n := d.uint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) { // every string takes a byte at least
		d.fail("list of %d in %d bytes", n, len(d.b))
		return nil
	}
	v := make([]string, 0, n)
	for range n {
		v = append(v, d.str())
	}
	return v
}

// bool reads a flag byte that must be 0 or 1.
func (d *dec) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("a flag not 0 or 1")
	return false
}

func (e *enc) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

// end fails unless every byte was read.
func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// parseUUID takes only the canonical lower-case form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), so that it prints back the same.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	i := 0
	for _, part := range [...]string{s[0:8], s[9:13], s[14:18], s[19:23], s[24:36]} {
		for j := 0; j < len(part); j += 2 {
			hi, ok1 := lowerHex(part[j])
			lo, ok2 := lowerHex(part[j+1])
			if !ok1 || !ok2 {
				return u, false
			}
			u[i] = hi<<4 | lo
			i++
		}
	}
	return u, true
}

func formatUUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:36], b[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// parseHex16 takes 32 lower-case hex digits.
func parseHex16(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 32 {
		return u, false
	}
	for i := range u {
		hi, ok1 := lowerHex(s[2*i])
		lo, ok2 := lowerHex(s[2*i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[i] = hi<<4 | lo
	}
	return u, true
}

// lowerHex is the value of a lower-case hex digit: the compact forms take
// only lower case, so that they print back the same.
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
