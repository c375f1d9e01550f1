package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ha/vigil/internal/decision"
)

// testSecret is a fixed secret of generation id, so that the committed fuzz
// seeds open.
func testSecret(id uint32) Secret {
	s := Secret{ID: id}
	for i := range s.b {
		s.b[i] = byte(id)*31 + byte(i)
	}
	return s
}

func hostKeys(t testing.TB, host string, ids ...uint32) HostKeys {
	t.Helper()
	var s []Secret
	for _, id := range ids {
		s = append(s, testSecret(id))
	}
	h, err := HostKeysFrom(s, host)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func clusterKeys(t testing.TB, ids ...uint32) *ClusterKeys {
	t.Helper()
	var s []Secret
	for _, id := range ids {
		s = append(s, testSecret(id))
	}
	c, err := NewClusterKeys(s, []string{"cmp1", "cmp2", "cmp3"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// self is a report of a host running n guests, as the agent sends it.
func self(n int) decision.SelfReport {
	s := decision.SelfReport{
		BootID:           "3f2b7c1e-8d4a-4e6b-9c0d-2a1b3c4d5e6f",
		NovaCompute:      decision.Process{Running: true, Restarts: 1},
		Libvirtd:         decision.Process{Running: true},
		WatchdogArmed:    true,
		Agent:            "9a8b7c6d5e4f30211203a4b5c6d7e8f9",
		Ticket:           decision.Ticket{Term: 4812, N: 17},
		Seq:              86400,
		IsolationTimeout: 10 * time.Second,
		WatchdogTimeout:  30 * time.Second,
	}
	for i := range n {
		s.Domains = append(s.Domains, fmt.Sprintf("%08x-1c2d-4e5f-8a9b-0c1d2e3f4a5b", i))
	}
	return s
}

var echo = Challenge{Issuer: 0x0123456789abcdef, At: 3_600_000}

// messages holds one of each kind with every field set.
func messages() []Message {
	inner := []byte{Version, byte(KindReport), 0, 0, 0, 1, 4, 'c', 'm', 'p', '1', 0xde, 0xad}
	return []Message{
		Report{Network: "mgmt", Echo: echo, Self: func() decision.SelfReport {
			s := self(3)
			s.GuestsUnknown, s.Stopping, s.Refused = true, true, []string{"0000aaaa-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "not-a-uuid"}
			s.Libvirtd.Restarts = -1 // never sent, but it travels as it is
			return s
		}()},
		Stop{Echo: echo, BootID: "b1", Agent: "p1", Ticket: decision.Ticket{Term: 3, N: 9}, Seq: 12},
		Peers{Echo: echo, Network: "storage", Seen: []Peer{{"cmp2", true}, {"cmp3", false}}},
		Grant{BootID: "b1", Agent: "p1", Seq: 12, Token: 4812, Ticket: decision.Ticket{Term: 4812, N: 2}, Guests: true, Next: echo},
		Ack{BootID: "b1", Agent: "p1", Seq: 13},
		Retry{Next: echo, Why: RetryStale},
		Relay{Inner: inner},
	}
}

func TestEveryKindRoundTrips(t *testing.T) {
	keys := hostKeys(t, "cmp1", 1)
	for _, m := range messages() {
		t.Run(m.Kind().String(), func(t *testing.T) {
			got, err := Decode(m.Kind(), Encode(m))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(m, got, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("decoded differs (-sent +got):\n%s", d)
			}
			b, err := Seal(keys.Newest(), "cmp1", m)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Open(keys, b)
			if err != nil {
				t.Fatal(err)
			}
			want := Header{Version: Version, Kind: m.Kind(), KeyID: 1, Host: "cmp1"}
			if d := cmp.Diff(want, p.Header); d != "" {
				t.Fatalf("header (-want +got):\n%s", d)
			}
			if d := cmp.Diff(m, p.Msg, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("opened differs (-sent +got):\n%s", d)
			}
		})
	}
}

// fill sets every field of the struct v points to, recursively, to a
// value that is not zero.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n) * 1000003)
	case reflect.Uint64:
		v.SetUint(uint64(*n) * 7919)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), n)
		fill(s.Index(1), n)
		v.Set(s)
	default:
		panic("fill: add " + v.Kind().String())
	}
}

// The decision types the wire carries: a field added to one of them that
// the wire does not carry fails here (it needs a new Version).
func TestEveryDecisionFieldTravels(t *testing.T) {
	var n int
	var rep decision.AgentReport
	fill(reflect.ValueOf(&rep).Elem(), &n)
	var stop decision.AgentStopping
	fill(reflect.ValueOf(&stop).Elem(), &n)
	var g decision.Grant
	fill(reflect.ValueOf(&g).Elem(), &n)
	var a decision.Ack
	fill(reflect.ValueOf(&a).Elem(), &n)
	var peer decision.PeerReport
	fill(reflect.ValueOf(&peer).Elem(), &n)

	through := func(m Message) Message {
		t.Helper()
		got, err := Decode(m.Kind(), Encode(m))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct {
		name      string
		sent, got any
	}{
		{"AgentReport", rep, through(Report{Network: rep.Network, Self: rep.Self}).(Report).Decision(rep.Host, rep.Via)},
		{"AgentStopping", stop, through(NewStop(stop, echo)).(Stop).Decision(stop.Host)},
		{"Grant", g, through(NewGrant(g, echo)).(Grant).Decision(g.Host)},
		{"Ack", a, through(NewAck(a)).(Ack).Decision(a.Host)},
		{"PeerReport", []decision.PeerReport{peer}, func() any {
			p, err := NewPeers([]decision.PeerReport{peer}, echo)
			if err != nil {
				t.Fatal(err)
			}
			return through(p).(Peers).Decision(peer.Observer)
		}()},
	} {
		if d := cmp.Diff(tc.sent, tc.got); d != "" {
			t.Errorf("%s does not travel whole (-sent +received):\n%s", tc.name, d)
		}
	}
}

func TestPeersBatchIsOneObserverOnOneNetwork(t *testing.T) {
	_, err := NewPeers([]decision.PeerReport{{Observer: "cmp1", Host: "cmp2", Network: "mgmt"}, {Observer: "cmp1", Host: "cmp3", Network: "storage"}}, echo)
	if err == nil {
		t.Fatal("a batch over two networks was made")
	}
	_, err = NewPeers([]decision.PeerReport{{Observer: "cmp1", Host: "cmp2", Network: "mgmt"}, {Observer: "cmp9", Host: "cmp3", Network: "mgmt"}}, echo)
	if err == nil {
		t.Fatal("a batch of two observers was made")
	}
}

func TestStringsTakeTheirCompactFormAndTravelExactly(t *testing.T) {
	for _, tc := range []struct {
		s    string
		size int
	}{
		{"3f2b7c1e-8d4a-4e6b-9c0d-2a1b3c4d5e6f", 17}, // a boot id, an instance UUID
		{"9a8b7c6d5e4f30211203a4b5c6d7e8f9", 17},     // an agent process id
		{"3F2B7C1E-8D4A-4E6B-9C0D-2A1B3C4D5E6F", 37}, // upper case: raw, to print back the same
		{"9a8b7c6d5e4f30211203a4b5c6d7e8f", 32},      // 31 digits
		{"", 1},
		{"mgmt", 5},
	} {
		var e enc
		e.str(tc.s)
		d := &dec{b: e.b}
		if got := d.str(); got != tc.s || d.end() != nil || len(e.b) != tc.size {
			t.Errorf("%q: %d bytes, back as %q (%v); want %d bytes", tc.s, len(e.b), got, d.err, tc.size)
		}
	}
}

// Decoding is strict: a body with another encoding of the same values is
// refused, so that a decoded body always encodes back to its bytes (the
// fuzzers check that) and a message has one form.
func TestNonCanonicalBodiesAreRefused(t *testing.T) {
	ack := Encode(Ack{BootID: "b1", Agent: "p1", Seq: 5})
	raw := func(s string) []byte { return append([]byte{byte(len(s) << 1)}, s...) }
	for _, tc := range []struct {
		name string
		kind Kind
		b    []byte
	}{
		{"trailing byte", KindAck, append(bytes.Clone(ack), 0)},
		{"overlong varint", KindAck, append(bytes.Clone(ack[:len(ack)-1]), 0x85, 0x00)},
		{"UUID spelt out", KindAck, append(append(raw("3f2b7c1e-8d4a-4e6b-9c0d-2a1b3c4d5e6f"), raw("p1")...), 5)},
		{"process id spelt out", KindAck, append(append(raw("b1"), raw("9a8b7c6d5e4f30211203a4b5c6d7e8f9")...), 5)},
		{"unknown string form", KindAck, append([]byte{5}, ack[1:]...)},
		{"flag of 2", KindGrant, func() []byte { b := Encode(Grant{}); b[6] = 2; return b }()},
		{"unknown report flag", KindReport, func() []byte {
			b := Encode(Report{})
			b[8+1+1+1] |= 0x80 // echo, at, network, boot id, then the flags
			return b
		}()},
		{"unknown retry reason", KindRetry, Encode(Retry{Why: 9})},
		{"empty relay", KindRelay, Encode(Relay{})},
		{"unknown kind", 99, ack},
		{"more peers than bytes", KindPeers, append(Encode(Peers{})[:10], 0x7f, 1)},
		{"truncated", KindGrant, Encode(Grant{BootID: "b1"})[:2]},
	} {
		if m, err := Decode(tc.kind, tc.b); err == nil {
			t.Errorf("%s: decoded as %+v", tc.name, m)
		}
	}
}

// Bytes per message, at the controller: the sizes docs/performance.md
// quotes. A report of a host with 20 guests stays under 500 bytes sealed.
func TestPacketSizes(t *testing.T) {
	keys := hostKeys(t, "cmp0421.rack7.example.net", 1)
	for _, tc := range []struct {
		name string
		m    Message
		max  int
	}{
		{"report, no guests", Report{Network: "mgmt", Echo: echo, Self: self(0)}, 150},
		{"report, 20 guests", Report{Network: "mgmt", Echo: echo, Self: self(20)}, 500},
		{"report, 100 guests", Report{Network: "mgmt", Echo: echo, Self: self(100)}, 1900},
		{"grant", NewGrant(decision.Grant{BootID: self(0).BootID, Agent: self(0).Agent, Seq: 86400, Token: 4812, Ticket: decision.Ticket{Term: 4812, N: 17}, Guests: true}, echo), 130},
		{"peers, 3 watched (the default)", peers3(), 190},
	} {
		b, err := Seal(keys.Newest(), keys.Host(), tc.m)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes sealed (%d body)", tc.name, len(b), len(Encode(tc.m)))
		if len(b) > tc.max {
			t.Errorf("%s: %d bytes sealed, more than %d", tc.name, len(b), tc.max)
		}
	}
}

// peers3 is one agent's round on one network at the default watch: three
// peers of 25-byte names.
func peers3() Peers {
	p := Peers{Network: "storage", Echo: echo}
	for _, h := range []string{"cmp0422.rack3.example.net", "cmp1187.rack9.example.net", "cmp0040.rack1.example.net"} {
		p.Seen = append(p.Seen, Peer{Host: h, Reachable: true})
	}
	return p
}
