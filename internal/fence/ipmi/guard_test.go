package ipmi

import (
	"bytes"
	"testing"
)

// A guard in every phase of a session, keys derived, for the tests below.
func guards() []*guard {
	var gs []*guard
	for ph := setup; ph <= active; ph++ {
		g := newGuard(nil, "secret", func(string) {})
		g.phase, g.want15, g.console = ph, true, 0xa0a1a2a3
		g.proposed = [3]byte{authSHA1, integSHA1, confAES}
		g.deriveKeys(bytes.Repeat([]byte{7}, 16))
		gs = append(gs, g)
	}
	return gs
}

// Whatever a BMC sends, the guard answers with a verdict, never a panic:
// go-ipmi's own parser is what panicked.
func FuzzGuardNeverPanics(f *testing.F) {
	rmcp := []byte{0x06, 0x00, 0xff, 0x07}
	f.Add([]byte{})
	f.Add(rmcp)
	f.Add(append(rmcp, 0x06, 0xc0, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0, 4, 0, 1, 2, 3, 4, 0xff, 0xff, 2, 7))
	f.Add(append(rmcp, 0x06, 0xc0, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0, 0xff, 0xff))
	f.Add(append(rmcp, 0x06, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 1, 0, 0, 0xa3, 0xa2, 0xa1, 0xa0))
	f.Add(append(rmcp, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0x81, 0x04, 0x7b))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range guards() {
			_ = g.accept(b)
			g.sent(b)
		}
	})
}

// Inside a session nothing but an authenticated, encrypted reply for our
// session passes: not a plaintext IPMI 1.5 one, not one for another session.
func TestGuardInSession(t *testing.T) {
	g := guards()[active]
	g.want15 = false
	msg := []byte{0x81, 0x04, 0x7b, 0x20, 0x08, 0x01, 0x00, 0x00, 0x00, 0x00, 0xd7}
	tests := []struct {
		name, reason string
		b            []byte
	}{
		{"plaintext 1.5 chassis status", "IPMI 1.5 reply outside session setup",
			append([]byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg))}, msg...)},
		{"unauthenticated 2.0", "unauthenticated or unencrypted",
			append([]byte{0x06, 0x00, 0xff, 0x07, 0x06, 0x00, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0, byte(len(msg)), 0}, msg...)},
		{"another session", "another session",
			[]byte{0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 1, 2, 3, 4, 1, 0, 0, 0, 0, 0}},
		{"bad AuthCode", "AuthCode does not match",
			append([]byte{0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0, 32, 0}, append(make([]byte, 32), 0xff, 0xff, 2, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)...)},
		{"not RMCP", "not an RMCP IPMI message", []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.accept(tt.b); !bytes.Contains([]byte(got), []byte(tt.reason)) {
				t.Errorf("accept() = %q, want a drop for %q", got, tt.reason)
			}
		})
	}
}
