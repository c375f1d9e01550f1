package pool

import (
	"fmt"
	"testing"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/wire"
)

// What the controllers receive of the pools at 10,000 hosts on 3
// networks, each host's round as the agents choose and seal it: one
// packet per host, network and interval, each host in exactly 3 of them.
// go test -count=1 -v -run TestControllerLoadAt10k ./internal/agent/pool/
// (docs/performance.md).
func TestControllerLoadAt10k(t *testing.T) {
	const hosts, nets = 10000, 3
	var names []string
	for i := range hosts {
		names = append(names, fmt.Sprintf("cmp%05d.rack%03d.example.net", i, i/40)) // 28 bytes
	}
	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	// Every host sends one round per network: a sample of them, chosen
	// and sealed as the agents do (TestWatchedCoversEveryMemberKTimes
	// shows every host in exactly 3 rounds).
	const sample = 500
	bytes, maxBytes, entries := 0, 0, 0
	for i := 0; i < hosts; i += hosts / sample {
		h := names[i]
		var reps []decision.PeerReport
		for _, o := range Watched(h, names, DefaultConfig().Watch) {
			reps = append(reps, decision.PeerReport{Observer: h, Host: o, Network: "storage", Reachable: true})
		}
		hk, err := wire.HostKeysFrom([]wire.Secret{s}, h)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.NewPeers(reps, wire.Challenge{Issuer: 1 << 63, At: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		b, err := wire.Seal(hk.Newest(), h, m)
		if err != nil {
			t.Fatal(err)
		}
		entries, bytes, maxBytes = entries+len(reps), bytes+len(b), max(maxBytes, len(b))
	}
	if entries != 3*sample {
		t.Fatalf("%d observations in %d rounds, want 3 each", entries, sample)
	}
	packets := hosts
	mean := float64(bytes) / sample
	t.Logf("%d hosts × %d networks, a round a second: %d Peers packets a second at each controller (%d observations), %.0f bytes each sealed (at most %d): %.1f MB/s",
		hosts, nets, packets*nets, 3*packets*nets, mean, maxBytes, float64(packets*nets)*mean/1e6)
}
