package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ha/vigil/internal/decision"
)

func seal(t testing.TB, k Key, host string, m Message) []byte {
	t.Helper()
	b, err := Seal(k, host, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refused fails unless err is one of the refusals a packet may meet.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	for _, e := range []error{ErrForged, ErrMalformed, ErrVersion, ErrUnknownKey, ErrUnknownHost, ErrUnexpected} {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("%s: %v; want a refusal", what, err)
}

// Every single bit flipped anywhere in a sealed report, and every
// truncation, is refused: nothing of an altered packet decodes.
func TestAlteredPacketsNeverOpen(t *testing.T) {
	keys := clusterKeys(t, 1)
	b := seal(t, hostKeys(t, "cmp1", 1).Newest(), "cmp1", Report{Network: "mgmt", Echo: echo, Self: self(5)})
	if _, err := Open(keys, b); err != nil {
		t.Fatal(err)
	}
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		p, err := Open(keys, c)
		if err == nil {
			t.Fatalf("bit %d flipped: opened as %+v", i, p)
		}
		refused(t, fmt.Sprintf("bit %d", i), err)
	}
	for n := range len(b) {
		_, err := Open(keys, b[:n])
		refused(t, fmt.Sprintf("truncated to %d", n), err)
	}
	_, err := Open(keys, append(bytes.Clone(b), 0))
	refused(t, "a byte appended", err)
}

// A host that is broken into holds its own key only: sealing a report as
// another host, or a grant to another host, with it is refused; so is a
// packet sealed with a key of another cluster's secret.
func TestAnotherHostsKeyForgesNothing(t *testing.T) {
	controller := clusterKeys(t, 1)
	cmp1, cmp2 := hostKeys(t, "cmp1", 1), hostKeys(t, "cmp2", 1)

	forged := seal(t, cmp2.Newest(), "cmp1", Report{Network: "mgmt", Echo: echo, Self: self(0)})
	if _, err := Open(controller, forged); !errors.Is(err, ErrForged) {
		t.Fatalf("cmp2 speaking as cmp1: %v; want ErrForged", err)
	}
	grant := seal(t, cmp2.Newest(), "cmp1", Grant{BootID: "b1", Agent: "p1", Seq: 1})
	if _, err := OpenDown(cmp1, grant); !errors.Is(err, ErrForged) {
		t.Fatalf("cmp2 granting cmp1: %v; want ErrForged", err)
	}
	// A grant truly for cmp2 does not open at cmp1 either.
	real, err := controller.Lookup("cmp2", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDown(cmp1, seal(t, real, "cmp2", Grant{BootID: "b1"})); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("cmp2's grant at cmp1: %v; want ErrUnknownHost", err)
	}
	other, err := HostKeysFrom([]Secret{{ID: 1, b: [keySize]byte{1}}}, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(controller, seal(t, other.Newest(), "cmp1", Report{Self: self(0)})); !errors.Is(err, ErrForged) {
		t.Fatalf("another cluster's key: %v; want ErrForged", err)
	}
	if _, err := Open(controller, seal(t, cmp1.Newest(), "cmp9", Report{Self: self(0)})); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("an unconfigured host: %v; want ErrUnknownHost", err)
	}
}

// An agent takes only what the controller sends it: its own reports sent
// back to it (a reflection), or a relay holding a report, are refused.
func TestAgentTakesOnlyDownstream(t *testing.T) {
	cmp1 := hostKeys(t, "cmp1", 1)
	if _, err := OpenDown(cmp1, seal(t, cmp1.Newest(), "cmp1", Report{Self: self(0)})); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("its own report reflected: %v; want ErrUnexpected", err)
	}
	controller := clusterKeys(t, 1)
	k2, _ := controller.Lookup("cmp2", 1)
	inner := seal(t, k2, "cmp2", Report{Self: self(0)})
	k1, _ := controller.Lookup("cmp1", 1)
	relay, err := WrapRelay(k1, "cmp1", inner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDown(cmp1, relay); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("a relay holding an upstream packet: %v; want ErrUnexpected", err)
	}
}

// A peer relays another host's packet: it can neither read it nor alter
// it, in either direction, and the controller learns who relayed it.
func TestRelayCannotReadOrAlter(t *testing.T) {
	controller := clusterKeys(t, 1)
	gate, err := NewGate(DefaultGateConfig(), controller)
	if err != nil {
		t.Fatal(err)
	}
	cmp1, cmp2 := hostKeys(t, "cmp1", 1), hostKeys(t, "cmp2", 1)
	now := 3600 * time.Second
	rep := Report{Network: "storage", Echo: gate.Challenge(now), Self: self(2)}
	inner := seal(t, cmp1.Newest(), "cmp1", rep)
	if bytes.Contains(inner, []byte{0x1c, 0x2d, 0x4e, 0x5f}) || bytes.Contains(inner, []byte("storage")) {
		t.Fatal("the sealed report shows its content")
	}

	// The peer alters the inner packet before wrapping it with its own,
	// valid key: every byte it could change is caught.
	for i := range inner {
		c := bytes.Clone(inner)
		c[i] ^= 0x01
		relay, err := WrapRelay(cmp2.Newest(), "cmp2", c)
		if err != nil {
			continue // a header it broke: it cannot even send it
		}
		in, err := gate.Receive(relay, now)
		if err == nil {
			t.Fatalf("byte %d of the relayed report altered: taken as %+v", i, in)
		}
	}
	relay, err := WrapRelay(cmp2.Newest(), "cmp2", inner)
	if err != nil {
		t.Fatal(err)
	}
	in, err := gate.Receive(relay, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []decision.Input{rep.Decision("cmp1", "cmp2")}
	if d := cmp.Diff(want, in.Inputs(), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("relayed report (-want +got):\n%s", d)
	}

	// The grant goes back the same way: the controller seals it for cmp1
	// and wraps it for cmp2, which hands the inner packet on.
	k1, _ := controller.Lookup(in.Host, in.KeyID)
	k2, _ := controller.Lookup(in.Via, in.ViaKeyID)
	g := NewGrant(decision.Grant{Host: "cmp1", BootID: rep.Self.BootID, Agent: rep.Self.Agent, Seq: rep.Self.Seq, Token: 7}, gate.Challenge(now))
	down, err := WrapRelay(k2, "cmp2", seal(t, k1, "cmp1", g))
	if err != nil {
		t.Fatal(err)
	}
	p, err := OpenDown(cmp2, down)
	if err != nil {
		t.Fatal(err)
	}
	fwd := p.Msg.(Relay).Inner
	if h, _ := Peek(fwd); h.Host != "cmp1" {
		t.Fatalf("the relay goes to %q, want cmp1", h.Host)
	}
	if _, err := Open(cmp2, fwd); err == nil {
		t.Fatal("the relaying peer opened the grant")
	}
	for i := range fwd {
		c := bytes.Clone(fwd)
		c[i] ^= 0x80
		if _, err := OpenDown(cmp1, c); err == nil {
			t.Fatalf("byte %d of the relayed grant altered: cmp1 took it", i)
		}
	}
	got, err := OpenDown(cmp1, fwd)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(g, got.Msg); d != "" {
		t.Fatalf("relayed grant (-sent +got):\n%s", d)
	}
}

func TestRelaysHoldOneOtherHostsPacket(t *testing.T) {
	controller := clusterKeys(t, 1)
	gate, _ := NewGate(DefaultGateConfig(), controller)
	cmp1, cmp2 := hostKeys(t, "cmp1", 1), hostKeys(t, "cmp2", 1)
	inner := seal(t, cmp1.Newest(), "cmp1", Report{Echo: gate.Challenge(0), Self: self(0)})
	once, err := WrapRelay(cmp2.Newest(), "cmp2", inner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WrapRelay(cmp1.Newest(), "cmp1", once); err == nil {
		t.Fatal("a relay was wrapped in a relay")
	}
	if _, err := WrapRelay(cmp1.Newest(), "cmp1", inner); err == nil {
		t.Fatal("a host relayed its own packet")
	}
	// Sealed by hand, past WrapRelay's checks: the gate refuses them.
	for name, b := range map[string][]byte{
		"relay in a relay": seal(t, cmp1.Newest(), "cmp1", Relay{Inner: once}),
		"own packet":       seal(t, cmp1.Newest(), "cmp1", Relay{Inner: inner}),
	} {
		if _, err := gate.Receive(b, 0); !errors.Is(err, ErrUnexpected) {
			t.Errorf("%s: %v; want ErrUnexpected", name, err)
		}
	}
	if _, err := gate.Receive(seal(t, cmp1.Newest(), "cmp1", Grant{}), 0); !errors.Is(err, ErrUnexpected) {
		t.Errorf("a grant sent to the controller: %v; want ErrUnexpected", err)
	}
}

func TestVersionIsChecked(t *testing.T) {
	keys := hostKeys(t, "cmp1", 1)
	b := seal(t, keys.Newest(), "cmp1", Ack{})
	for _, v := range []byte{Version - 1, Version + 1} {
		b[0] = v
		_, err := Open(keys, b)
		if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", v)) {
			t.Fatalf("a version %d packet: %v; want ErrVersion naming it", v, err)
		}
	}
}

func TestSealRefusesWhatCannotTravel(t *testing.T) {
	k := hostKeys(t, "cmp1", 1).Newest()
	if _, err := Seal(k, "", Ack{}); err == nil {
		t.Error("sealed with no host")
	}
	if _, err := Seal(k, strings.Repeat("h", 256), Ack{}); err == nil {
		t.Error("sealed with a 256-byte host name")
	}
	if _, err := Seal(Key{}, "cmp1", Ack{}); err == nil {
		t.Error("sealed with no key")
	}
	if _, err := Seal(k, "cmp1", Report{Self: self(4000)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a report of 4000 guests: %v; want ErrTooLarge", err)
	}
}

// Keys and secrets never print, whatever the verb.
func TestKeysNeverPrint(t *testing.T) {
	s := testSecret(1)
	k := hostKeys(t, "cmp1", 1).Newest()
	hexSecret := fmt.Sprintf("%x", s.b[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, v := range []any{s, k, []Secret{s}, struct{ K Key }{k}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, hexSecret) || strings.Contains(out, hexSecret[:16]) || !strings.Contains(out, "#1") {
				t.Fatalf("%s of %T printed %q", verb, v, out)
			}
		}
	}
}
