package wire

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// go test -run '^$' -bench . -benchmem ./internal/wire/ (docs/performance.md)

// BenchmarkSealOpen seals and opens one message: the agent's and the
// controller's cost per message, each side doing one half.
func BenchmarkSealOpen(b *testing.B) {
	keys := hostKeys(b, "cmp0421.rack7.example.net", 1)
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"report-0-guests", Report{Network: "mgmt", Echo: echo, Self: self(0)}},
		{"report-20-guests", Report{Network: "mgmt", Echo: echo, Self: self(20)}},
		{"grant", NewGrant(decision.Grant{BootID: self(0).BootID, Agent: self(0).Agent, Seq: 86400, Token: 4812, Ticket: decision.Ticket{Term: 4812, N: 17}, Guests: true}, echo)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				p, err := Seal(keys.Newest(), keys.Host(), tc.m)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Open(keys, p); err != nil {
					b.Fatal(err)
				}
				size = len(p)
			}
			b.ReportMetric(float64(size), "bytes/msg")
		})
	}
}

// BenchmarkControllerRound is the leader's wire work per report: the gate
// takes a report of a host with 20 guests (open, challenge, dedup), and
// the grant answering it is sealed. The hosts are 10,000 of them.
func BenchmarkControllerRound(b *testing.B) {
	const hosts = 10000
	var names []string
	for i := range hosts {
		names = append(names, "cmp"+string(rune('a'+i%26))+time.Duration(i).String())
	}
	secrets := []Secret{testSecret(1)}
	ck, err := NewClusterKeys(secrets, names)
	if err != nil {
		b.Fatal(err)
	}
	gate := newGate(b, ck)
	now := time.Hour
	pool := make([][]byte, 1<<14)
	for i := range pool {
		k, _ := ck.Lookup(names[i%hosts], 1)
		pool[i] = seal(b, k, names[i%hosts], Report{Network: "mgmt", Echo: gate.Challenge(now), Self: self(20)})
	}
	g := NewGrant(decision.Grant{BootID: self(0).BootID, Agent: self(0).Agent, Seq: 86400, Token: 4812, Guests: true}, gate.Challenge(now))
	i := 0
	for b.Loop() {
		if i == len(pool) {
			b.StopTimer()
			gate.seen, i = map[uint64]map[[16]byte]struct{}{}, 0
			b.StartTimer()
		}
		in, err := gate.Receive(pool[i], now)
		if err != nil {
			b.Fatal(err)
		}
		k, _ := ck.Lookup(in.Host, in.KeyID)
		if _, err := Seal(k, in.Host, g); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkControllerPeers is the leader's wire work per peer round: the
// gate takes one agent's round on one network (three peers watched, the
// default; open, challenge, dedup). Nothing answers it. The hosts are
// 10,000 of them.
func BenchmarkControllerPeers(b *testing.B) {
	const hosts = 10000
	var names []string
	for i := range hosts {
		names = append(names, "cmp"+string(rune('a'+i%26))+time.Duration(i).String())
	}
	ck, err := NewClusterKeys([]Secret{testSecret(1)}, names)
	if err != nil {
		b.Fatal(err)
	}
	gate := newGate(b, ck)
	now := time.Hour
	m := peers3()
	m.Echo = gate.Challenge(now)
	pool := make([][]byte, 1<<14)
	for i := range pool {
		k, _ := ck.Lookup(names[i%hosts], 1)
		pool[i] = seal(b, k, names[i%hosts], m)
	}
	i := 0
	for b.Loop() {
		if i == len(pool) {
			b.StopTimer()
			gate.seen, i = map[uint64]map[[16]byte]struct{}{}, 0
			b.StartTimer()
		}
		in, err := gate.Receive(pool[i], now)
		if err != nil {
			b.Fatal(err)
		}
		if p, ok := in.Msg.(Peers); !ok || len(p.Decision(in.Host)) != 3 {
			b.Fatalf("took %+v", in.Msg)
		}
		i++
	}
	b.ReportMetric(float64(len(pool[0])), "bytes/msg")
}

// BenchmarkClusterKeys derives the keys of 10,000 hosts: a controller's
// start, and each rotation.
func BenchmarkClusterKeys(b *testing.B) {
	var names []string
	for i := range 10000 {
		names = append(names, time.Duration(i).String())
	}
	for b.Loop() {
		if _, err := NewClusterKeys([]Secret{testSecret(2), testSecret(1)}, names); err != nil {
			b.Fatal(err)
		}
	}
}
