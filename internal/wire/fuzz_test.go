package wire

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The decoders, fuzzed: go test -fuzz=FuzzOpen -fuzztime=60s ./internal/wire/
// (one at a time). Their seeds are committed under testdata/fuzz, written
// by VIGIL_WRITE_SEEDS=1 go test -run TestFuzzSeeds ./internal/wire/, so
// plain go test runs them.

// fuzzNow is when the fuzzed gate receives: echo is a second old.
var fuzzNow = time.Duration(echo.At)*time.Millisecond + time.Second

// fuzzGate is a gate that handed out echo.
func fuzzGate(keys Keys) *Gate {
	return &Gate{window: DefaultGateConfig().Window, issuer: echo.Issuer, keys: keys, seen: map[uint64]map[[16]byte]struct{}{}}
}

// seedPackets are packets sealed with the test secrets and fixed nonces:
// every kind from cmp1, relays both ways through cmp2, and one of
// generation 2. They are the only packets that may ever open.
func seedPackets(t testing.TB) [][]byte {
	ck := clusterKeys(t, 1, 2)
	k1, _ := ck.Lookup("cmp1", 1)
	k2, _ := ck.Lookup("cmp2", 1)
	var n byte
	s := func(k Key, host string, m Message) []byte {
		n++
		b, err := sealNonce(k, host, m, [nonceSize]byte{n})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var out [][]byte
	for _, m := range messages() {
		if m.Kind() != KindRelay {
			out = append(out, s(k1, "cmp1", m))
		}
	}
	up := s(k1, "cmp1", Report{Network: "storage", Echo: echo, Self: self(2)})
	down := s(k1, "cmp1", Grant{BootID: "b1", Agent: "p1", Seq: 3, Next: echo})
	out = append(out, up, down, s(k2, "cmp2", Relay{Inner: up}), s(k2, "cmp2", Relay{Inner: down}))
	k12, _ := ck.Lookup("cmp1", 2)
	return append(out, s(k12, "cmp1", Report{Network: "mgmt", Echo: echo, Self: self(0)}))
}

func FuzzOpen(f *testing.F) {
	ck := clusterKeys(f, 1, 2)
	cmp1 := hostKeys(f, "cmp1", 1, 2)
	authentic := map[string]bool{}
	for _, b := range seedPackets(f) {
		authentic[string(b)] = true
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, perr := Peek(b)
		p, err := Open(ck, b)
		if err == nil {
			if !authentic[string(b)] {
				t.Fatalf("opened a packet nobody sealed: %x", b)
			}
			if perr != nil || h != p.Header {
				t.Fatalf("opened as %+v, peeked as %+v (%v)", p.Header, h, perr)
			}
			again, err := Decode(p.Kind, Encode(p.Msg))
			if err != nil || !cmp.Equal(again, p.Msg, cmpopts.EquateEmpty()) {
				t.Fatalf("%+v does not decode back: %+v, %v", p.Msg, again, err)
			}
		}
		if _, err := OpenDown(cmp1, b); err == nil && !authentic[string(b)] {
			t.Fatalf("the agent opened a packet nobody sealed: %x", b)
		}
		in, err := fuzzGate(ck).Receive(b, fuzzNow)
		if err == nil && (!authentic[string(b)] || !in.Msg.Kind().Upstream() || in.Host == in.Via) {
			t.Fatalf("the gate took %+v from %x", in, b)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		m, err := Decode(Kind(kind), body)
		if err != nil {
			return
		}
		if m.Kind() != Kind(kind) {
			t.Fatalf("a %s body decoded as a %s", Kind(kind), m.Kind())
		}
		if again := Encode(m); !bytes.Equal(again, body) {
			t.Fatalf("%s %x decoded as %+v, which encodes as %x", Kind(kind), body, m, again)
		}
	})
}

func FuzzKeyFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := parseSecrets("f", data); err == nil {
			again, err := parseSecrets("f", FormatSecrets(s))
			if err != nil || !cmp.Equal(s, again, cmp.AllowUnexported(Secret{})) {
				t.Fatalf("%q parsed, but its formatted form does not parse back: %v", data, err)
			}
		}
		if h, err := parseHostKeys("f", "cmp1", data); err == nil && (h.Host() != "cmp1" || len(h.keys) == 0 || len(h.keys) > 2 ||
			(len(h.pool) != 0 && !slices.Equal(h.ids(), poolIDs(h.pool)))) {
			t.Fatalf("%q parsed as %d keys of %q and pool keys %v", data, len(h.keys), h.Host(), poolIDs(h.pool))
		}
	})
}

func keyFileSeeds(t testing.TB) [][]byte {
	host, err := FormatHostKeys([]Secret{testSecret(2), testSecret(1)}, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{
		FormatSecrets([]Secret{testSecret(1)}),
		FormatSecrets([]Secret{testSecret(2), testSecret(1)}),
		host,
		[]byte("vigil-cluster-secret 1 00\n"),
		[]byte("# only a comment\n\n"),
		[]byte("vigil-host-key cmp2 1 " + fmt.Sprintf("%064x", 7) + "\n"),
		// A host's file from before the pools, one with only a pool key,
		// and one whose generations do not match.
		[]byte("vigil-host-key cmp1 1 " + fmt.Sprintf("%064x", 7) + "\n"),
		[]byte("vigil-pool-key 1 " + fmt.Sprintf("%064x", 8) + "\n"),
		[]byte("vigil-host-key cmp1 2 " + fmt.Sprintf("%064x", 7) + "\nvigil-pool-key 1 " + fmt.Sprintf("%064x", 8) + "\n"),
	}
}

// seeds are every fuzzer's seed corpus.
func seeds(t testing.TB) map[string][]string {
	out := map[string][]string{}
	for _, b := range seedPackets(t) {
		out["FuzzOpen"] = append(out["FuzzOpen"], fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b))
	}
	for _, m := range messages() {
		out["FuzzDecode"] = append(out["FuzzDecode"], fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", rune(m.Kind()), Encode(m)))
	}
	for _, b := range keyFileSeeds(t) {
		out["FuzzKeyFile"] = append(out["FuzzKeyFile"], fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b))
	}
	return out
}

// The committed seeds are those the code makes: a change of the format
// fails here until they are written again.
func TestFuzzSeeds(t *testing.T) {
	write := os.Getenv("VIGIL_WRITE_SEEDS") == "1"
	for fuzzer, corpus := range seeds(t) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		for i, s := range corpus {
			p := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			if write {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != s {
				t.Errorf("%s is not the current seed (%v): run VIGIL_WRITE_SEEDS=1 go test -run TestFuzzSeeds ./internal/wire/", p, err)
			}
		}
	}
}
