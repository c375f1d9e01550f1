package wire

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ha/vigil/internal/decision"
)

func newGate(t testing.TB, keys Keys) *Gate {
	t.Helper()
	g, err := NewGate(DefaultGateConfig(), keys)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The handshake: an agent that heard no controller yet is refused and
// answered with a challenge; echoing it, it is taken; a message taken is
// never taken again, however soon.
func TestGateTakesAFreshPacketOnce(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	cmp1 := hostKeys(t, "cmp1", 1)
	now := 10 * time.Second

	first := seal(t, cmp1.Newest(), "cmp1", Report{Network: "mgmt", Self: self(1)})
	in, err := gate.Receive(first, now)
	if !errors.Is(err, ErrNoChallenge) || in.Host != "cmp1" || in.KeyID != 1 || in.Msg != nil {
		t.Fatalf("a report echoing no challenge: %+v, %v; want ErrNoChallenge naming whom to answer", in, err)
	}
	retry := Retry{Next: gate.Challenge(now), Why: RetryUnknown}

	now += 20 * time.Millisecond
	b := seal(t, cmp1.Newest(), "cmp1", Report{Network: "mgmt", Echo: retry.Next, Self: self(1)})
	in, err = gate.Receive(b, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []decision.Input{decision.AgentReport{Host: "cmp1", Network: "mgmt", Self: self(1)}}
	if d := cmp.Diff(want, in.Inputs(), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("taken (-want +got):\n%s", d)
	}
	for _, later := range []time.Duration{0, time.Millisecond, 4 * time.Second} {
		if _, err := gate.Receive(b, now+later); !errors.Is(err, ErrReplay) {
			t.Fatalf("the same packet %v later: %v; want ErrReplay", later, err)
		}
	}
	// The same report sealed again (sent on another network, or to a
	// relay) is another packet: taken.
	if _, err := gate.Receive(seal(t, cmp1.Newest(), "cmp1", Report{Network: "storage", Echo: retry.Next, Self: self(1)}), now); err != nil {
		t.Fatalf("the report sent on storage too: %v", err)
	}
}

// Past the window a packet is stale, and the refusal says by how much.
func TestGateRefusesStalePackets(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	cmp1 := hostKeys(t, "cmp1", 1)
	issued := time.Minute
	b := seal(t, cmp1.Newest(), "cmp1", Stop{Echo: gate.Challenge(issued), BootID: "b1", Agent: "p1", Seq: 9})
	in, err := gate.Receive(b, issued+5*time.Second+time.Millisecond)
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "5.001s ago") || in.Host != "cmp1" {
		t.Fatalf("5.001 s after its challenge: %+v, %v; want ErrStale saying how old", in, err)
	}
	if _, err := gate.Receive(b, issued+5*time.Second); err != nil {
		t.Fatalf("at the window's edge: %v", err)
	}
	if _, err := gate.Receive(b, issued+5*time.Second+time.Millisecond); !errors.Is(err, ErrStale) {
		t.Fatalf("taken, then stale: %v; want ErrStale", err)
	}
	future := seal(t, cmp1.Newest(), "cmp1", Report{Echo: gate.Challenge(issued + time.Hour), Self: self(0)})
	if _, err := gate.Receive(future, issued); !errors.Is(err, ErrNoChallenge) {
		t.Fatalf("a challenge not issued yet: %v; want ErrNoChallenge", err)
	}
}

// A restarted controller, or a new leader, is a new gate: no packet
// recorded before it started is taken, not even once.
func TestRestartedGateTakesNoEarlierPacket(t *testing.T) {
	keys := clusterKeys(t, 1)
	before := newGate(t, keys)
	cmp1 := hostKeys(t, "cmp1", 1)
	now := time.Hour
	b := seal(t, cmp1.Newest(), "cmp1", Report{Echo: before.Challenge(now), Self: self(0)})
	after := newGate(t, keys)
	if _, err := after.Receive(b, now); !errors.Is(err, ErrNoChallenge) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("a packet of the previous process: %v; want ErrNoChallenge saying so", err)
	}
	// Even when the new process's clock reads the same.
	if after.Challenge(now) == before.Challenge(now) {
		t.Fatal("two controller processes hand out the same challenge")
	}
}

// A host dies; an attacker who recorded all its packets replays every one
// of them every 100 ms from then on, to the leader and to a leader
// elected after it. The leader takes none twice and none after the
// window; the new leader takes none at all. Each packet taken was a
// message the host really sent, taken once, no later than a message
// delayed by the window: the host looks no more alive than a slow
// network would make it.
func TestRecordedPacketsCannotKeepADeadHostAlive(t *testing.T) {
	keys := clusterKeys(t, 1)
	leader := newGate(t, keys)
	cmp1 := hostKeys(t, "cmp1", 1)
	var recorded [][]byte
	var ch Challenge
	now := time.Hour
	for i := range 30 { // one report a second, a grant back with a challenge
		s := self(1)
		s.Seq = uint64(i + 1)
		for _, net := range []string{"mgmt", "storage"} {
			b := seal(t, cmp1.Newest(), "cmp1", Report{Network: net, Echo: ch, Self: s})
			recorded = append(recorded, b)
			_, _ = leader.Receive(b, now+10*time.Millisecond)
		}
		ch = leader.Challenge(now + 10*time.Millisecond)
		now += time.Second
	}
	died := now
	successor := newGate(t, keys)
	taken := map[int]bool{}
	for at := died; at < died+time.Minute; at += 100 * time.Millisecond {
		for i, b := range recorded {
			if _, err := leader.Receive(b, at); err == nil {
				t.Fatalf("packet %d taken again %v after the host died", i, at-died)
			}
			if _, err := successor.Receive(b, at); err == nil {
				taken[i] = true
			}
		}
	}
	if len(taken) > 0 {
		t.Fatalf("the new leader took %d recorded packets", len(taken))
	}
}

// The same: an attacker dropped the host's last packets and replays them
// late. The leader takes each once, and only within the window.
func TestWithheldPacketsAreTakenOnceWithinTheWindow(t *testing.T) {
	leader := newGate(t, clusterKeys(t, 1))
	cmp1 := hostKeys(t, "cmp1", 1)
	issued := time.Hour
	b := seal(t, cmp1.Newest(), "cmp1", Report{Echo: leader.Challenge(issued), Self: self(0)})
	var takenAt []time.Duration
	for at := issued; at < issued+time.Minute; at += 100 * time.Millisecond {
		if _, err := leader.Receive(b, at+4*time.Second); err == nil {
			takenAt = append(takenAt, at+4*time.Second-issued)
		}
	}
	if len(takenAt) != 1 || takenAt[0] > 5*time.Second {
		t.Fatalf("taken at %v after its challenge; want once, within 5s", takenAt)
	}
}

// A relayed copy of a packet taken directly is the same packet: a second
// peer wrapping it again gets nothing through.
func TestRewrappedPacketIsAReplay(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	cmp1, cmp2, cmp3 := hostKeys(t, "cmp1", 1), hostKeys(t, "cmp2", 1), hostKeys(t, "cmp3", 1)
	now := time.Hour
	inner := seal(t, cmp1.Newest(), "cmp1", Report{Echo: gate.Challenge(now), Self: self(0)})
	via2, _ := WrapRelay(cmp2.Newest(), "cmp2", inner)
	via3, _ := WrapRelay(cmp3.Newest(), "cmp3", inner)
	if _, err := gate.Receive(via2, now); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"direct": inner, "via cmp3": via3} {
		if _, err := gate.Receive(b, now); !errors.Is(err, ErrReplay) {
			t.Errorf("%s after via cmp2: %v; want ErrReplay", name, err)
		}
	}
}

// What the gate remembers is bounded by the window: a day of reports
// from a host leaves only the last window's nonces.
func TestGateForgetsWhatCanNoLongerBeTaken(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	cmp1 := hostKeys(t, "cmp1", 1)
	start := time.Hour
	for at := start; at < start+24*time.Hour; at += 30 * time.Second {
		if _, err := gate.Receive(seal(t, cmp1.Newest(), "cmp1", Report{Echo: gate.Challenge(at), Self: self(0)}), at); err != nil {
			t.Fatal(err)
		}
	}
	for s := start; s < start+10*time.Second; s += time.Second / 4 {
		at := start + 24*time.Hour + s
		if _, err := gate.Receive(seal(t, cmp1.Newest(), "cmp1", Report{Echo: gate.Challenge(at), Self: self(0)}), at); err != nil {
			t.Fatal(err)
		}
	}
	kept := 0
	for _, m := range gate.seen {
		kept += len(m)
	}
	if kept > 4*7 {
		t.Fatalf("%d nonces kept in %d seconds; want those of the last window only", kept, len(gate.seen))
	}
}

func TestPeersAndStopMapToTheEngine(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	cmp2 := hostKeys(t, "cmp2", 1)
	ch := gate.Challenge(time.Second)
	p, err := NewPeers([]decision.PeerReport{{Observer: "cmp2", Host: "cmp1", Network: "mgmt"}, {Observer: "cmp2", Host: "cmp3", Network: "mgmt", Reachable: true}}, ch)
	if err != nil {
		t.Fatal(err)
	}
	stop := decision.AgentStopping{Host: "cmp2", BootID: "b2", Agent: "p2", Ticket: decision.Ticket{Term: 1, N: 1}, Seq: 4}
	var got []decision.Input
	for _, m := range []Message{p, NewStop(stop, ch)} {
		in, err := gate.Receive(seal(t, cmp2.Newest(), "cmp2", m), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in.Inputs()...)
	}
	want := []decision.Input{
		decision.PeerReport{Observer: "cmp2", Host: "cmp1", Network: "mgmt"},
		decision.PeerReport{Observer: "cmp2", Host: "cmp3", Network: "mgmt", Reachable: true},
		stop,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("inputs (-want +got):\n%s", d)
	}
}

func TestGateConfigValidates(t *testing.T) {
	for _, w := range []time.Duration{0, 999 * time.Millisecond, 61 * time.Second} {
		if _, err := NewGate(GateConfig{Window: w}, clusterKeys(t, 1)); err == nil {
			t.Errorf("window %v accepted", w)
		}
	}
}

// Receivers on several sockets share one gate: a packet arriving on all
// of them at once is taken once.
func TestGateTakesOnceUnderConcurrentReceivers(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	cmp1 := hostKeys(t, "cmp1", 1)
	b := seal(t, cmp1.Newest(), "cmp1", Report{Echo: gate.Challenge(time.Second), Self: self(0)})
	taken := make(chan bool, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := gate.Receive(b, time.Second)
			taken <- err == nil
		})
	}
	wg.Wait()
	close(taken)
	n := 0
	for ok := range taken {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("taken %d times by 8 receivers; want once", n)
	}
}
