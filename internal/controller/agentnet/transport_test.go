package agentnet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/wire"
)

// An agent's first report echoes no challenge: the leader refuses it,
// answers with a Retry, the agent resends at once and is granted (its
// other network's report, sent before or after that Retry came, is
// refused and resent too, or echoes the new challenge at once); from then
// on every report is granted the first time, and each grant feeds the
// agent's watchdog.
func TestGrantsFeedTheWatchdog(t *testing.T) {
	w := newWorld(t)
	w.startController()
	var hs []*host
	for i := 1; i <= 3; i++ {
		hs = append(hs, w.addHost(i, false))
	}
	w.round(hs...)
	for _, h := range hs {
		if !h.fedNow() || !h.c.HoldsGrant(w.clk.now()) {
			t.Fatalf("%s: granted but watchdog fed at %v, holds a grant %v", h.name, h.dog.fed, h.c.HoldsGrant(w.clk.now()))
		}
	}
	resent := resends(hs)
	for range 3 {
		w.clk.advance(time.Second)
		w.round(hs...)
	}
	s := w.srv.Stats()
	if s.NoChallenge != resent || s.Retries != resent || s.Refused() != resent || resent < 3 || resent > 6 || s.Grants != 24 || s.Taken != 24 {
		t.Fatalf("controller %+v, agents resent %d; want the first reports (one or both networks' of each host) refused, retried and resent once, none later, and all 24 granted", s, resent)
	}
	if resends(hs) != resent {
		t.Fatalf("agents resent %d after the first round, want none", resends(hs)-resent)
	}
	for _, h := range hs {
		if !h.fedNow() || !h.c.HoldsGrant(w.clk.now()+9*time.Second) {
			t.Fatalf("%s: the last round's grant did not feed or does not count from its report: fed %v", h.name, h.dog.fed)
		}
	}
}

// A forged packet (sealed with a key the cluster never gave, or altered on
// the way) and a replayed one (a packet the leader took, sent again) are
// refused, counted, and answered with nothing: the next answer to their
// sender is the one to its next honest packet. So is a report naming
// another network than the one it came on.
func TestForgedAndReplayedPacketsAreRefused(t *testing.T) {
	w := newWorld(t)
	w.startController()
	mgmt := w.srv.Addr("mgmt")
	a := w.raw(w.addr(0, 50, 7750), "cmp3")

	a.send(a.seal(report("mgmt", "p-rec", 1, wire.Challenge{})), mgmt)
	retry, ok := a.next().(wire.Retry)
	if !ok || retry.Why != wire.RetryUnknown {
		t.Fatalf("a report echoing no challenge was answered with %#v, want a Retry", retry)
	}
	taken := a.seal(report("mgmt", "p-rec", 2, retry.Next))
	a.send(taken, mgmt)
	if g, ok := a.next().(wire.Grant); !ok || g.Seq != 2 {
		t.Fatalf("an honest report was answered with %#v, want its grant", g)
	}

	a.send(taken, mgmt) // replayed
	other, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := wire.HostKeysFrom([]wire.Secret{other}, "cmp3")
	if err != nil {
		t.Fatal(err)
	}
	forged, err := wire.Seal(foreign.Newest(), "cmp3", report("mgmt", "p-rec", 3, retry.Next))
	if err != nil {
		t.Fatal(err)
	}
	a.send(forged, mgmt)
	altered := a.seal(report("mgmt", "p-rec", 4, retry.Next))
	altered[len(altered)-1] ^= 1
	a.send(altered, mgmt)
	a.send(a.seal(report("storage", "p-rec", 5, retry.Next)), mgmt) // on the wrong network

	a.send(a.seal(report("mgmt", "p-rec", 6, retry.Next)), mgmt)
	if g, ok := a.next().(wire.Grant); !ok || g.Seq != 6 {
		t.Fatalf("the next answer is %#v; want the grant of report 6, nothing for the replay, the forgeries or the wrong network", g)
	}
	eventually(t, "the refusals are counted", func() error { // the readers take packets in parallel
		s := w.srv.Stats()
		if s.Replay != 1 || s.Forged != 2 || s.WrongNetwork != 1 || s.NoChallenge != 1 || s.Refused() != 5 || s.Taken != 2 || s.Grants != 2 || s.Retries != 1 {
			return fmt.Errorf("controller %+v; want 1 replay, 2 forgeries, 1 wrong network refused; 2 taken and granted; 1 retry", s)
		}
		return nil
	})
}

// A restarted controller is a new process: its gate takes no challenge of
// its predecessor's. Each agent's next report on each network is refused,
// retried and resent at once, and granted in that same round.
func TestControllerRestartRecoversInOneRoundTrip(t *testing.T) {
	w := newWorld(t)
	w.startController()
	hs := []*host{w.addHost(1, false), w.addHost(2, false)}
	w.round(hs...)
	w.clk.advance(time.Second)
	w.round(hs...)

	before := resends(hs)
	w.restartController()
	w.clk.advance(time.Second)
	w.round(hs...) // one step each: the Retry and the resend are its round trip
	for _, h := range hs {
		if !h.fedNow() {
			t.Fatalf("%s: not fed after the restart's first round: %v", h.name, h.dog.fed)
		}
	}
	resent := resends(hs) - before
	if s := w.srv.Stats(); s.NoChallenge != resent || s.Retries != resent || s.Refused() != resent || resent < 2 || s.Grants != 4 {
		t.Fatalf("the new controller %+v, agents resent %d; want each host's first report refused, retried and resent once, and all 4 granted", s, resent)
	}
}

// cmp1 loses its direct path to the controllers on every network. Once
// it has heard none for the silence, it relays through a peer that still
// hears them, and its grants come back the same way: it stays granted and
// its watchdog fed, round after round. Healed, it is answered directly
// again and stops relaying.
func TestCutAgentRelaysThroughAPeer(t *testing.T) {
	w := newWorld(t)
	w.startController()
	cmp1, cmp2, cmp3 := w.addHost(1, true), w.addHost(2, false), w.addHost(3, false)
	all := []*host{cmp1, cmp2, cmp3}
	w.round(all...)
	for _, l := range cmp1.links {
		l.cut.Store(true)
	}
	w.clk.advance(time.Second)
	w.round(cmp2, cmp3)
	cmp1.step() // lost: cmp1 has not been silent for long yet
	for r := range 4 {
		w.clk.advance(time.Second)
		w.round(cmp2, cmp3) // the peers hear the controllers
		w.round(cmp1)
		if !cmp1.fedNow() || !cmp1.c.HoldsGrant(w.clk.now()+9*time.Second) {
			t.Fatalf("round %d: cmp1 relayed but not fed by a grant counted from its report: fed %v", r, cmp1.dog.fed)
		}
	}
	if s := w.srv.Stats(); s.Relayed != 8 {
		t.Fatalf("controller %+v; want cmp1's 8 reports taken through peers", s)
	}
	relayed := cmp2.up.Stats().Relayed + cmp3.up.Stats().Relayed
	if s := cmp1.up.Stats(); s.ViaPeer != 8 || relayed != 8 {
		t.Fatalf("cmp1 %+v, peers relayed %d; want 8 reports sent and relayed through peers", s, relayed)
	}

	for _, l := range cmp1.links {
		l.cut.Store(false)
	}
	w.clk.advance(time.Second)
	w.round(cmp2, cmp3)
	cmp1.step() // silent still when it sends the first network's report: directly and through the peer
	via := cmp1.up.Stats().ViaPeer
	cmp1.grants(len(networks) + int(via-8)) // a grant each way for every report relayed as well
	w.clk.advance(time.Second)
	w.round(all...)
	if s := cmp1.up.Stats(); s.ViaPeer != via {
		t.Fatalf("cmp1 %+v: still relaying once answered directly", s)
	}
}

// A flood of packets refused for their challenge, from one source, is
// answered with the burst of Retries the limit allows and no more; another
// source still gets its own, and the flooding source one more once its
// bucket refills.
func TestRetryFloodIsRateLimited(t *testing.T) {
	w := newWorld(t)
	w.startController()
	mgmt := w.srv.Addr("mgmt")
	flood, other := w.raw(w.addr(0, 51, 7751), "cmp3"), w.raw(w.addr(0, 52, 7752), "cmp2")
	const n = 200
	for i := range n {
		flood.send(flood.seal(report("mgmt", "p-flood", uint64(i+1), wire.Challenge{})), mgmt)
	}
	eventually(t, "the flood is answered or withheld", func() error {
		if s := w.srv.Stats(); s.Retries+s.RetriesLimited < n {
			return fmt.Errorf("%+v", s)
		}
		return nil
	})
	burst := w.cfg.RetryBurst
	if s := w.srv.Stats(); s.Retries != uint64(burst) || s.RetriesLimited != uint64(n-burst) {
		t.Fatalf("controller %+v; want %d retries and %d withheld", s, burst, n-burst)
	}
	for range burst {
		if _, ok := flood.next().(wire.Retry); !ok {
			t.Fatal("the flood's answer is not a Retry")
		}
	}
	other.send(other.seal(report("mgmt", "p-other", 1, wire.Challenge{})), mgmt)
	if _, ok := other.next().(wire.Retry); !ok {
		t.Fatal("another source got no Retry while one source floods")
	}
	w.clk.advance(w.cfg.RetryEvery)
	flood.send(flood.seal(report("mgmt", "p-flood", n+1, wire.Challenge{})), mgmt)
	if _, ok := flood.next().(wire.Retry); !ok {
		t.Fatal("the flooding source got no Retry once its bucket refilled")
	}
	if s := w.srv.Stats(); s.Retries != uint64(burst)+2 {
		t.Fatalf("controller %+v; want %d retries", s, burst+2)
	}
}

// resends is how many messages hs resent on a Retry.
func resends(hs []*host) uint64 {
	var n uint64
	for _, h := range hs {
		n += h.up.Stats().Resent
	}
	return n
}

// A clean stop's notice goes to the leader on every network; the Runner's
// acknowledgement, once written, comes back by the server's Ack to the
// addresses the host was last heard from, and disarms the watchdog.
func TestCleanStopIsAcknowledged(t *testing.T) {
	w := newWorld(t)
	w.startController()
	h := w.addHost(1, false)
	w.round(h)
	w.clk.advance(time.Second)
	w.round(h)
	h.a.Stop(context.Background())
	bound := time.After(waitFor)
	for !h.dog.disarmed {
		select {
		case m := <-h.in:
			if m.Ack != nil {
				if _, err := h.a.Acked(*m.Ack); err != nil {
					t.Fatal(err)
				}
			}
		case <-bound:
			t.Fatalf("no acknowledgement disarmed the watchdog within %v; controller %+v", waitFor, w.srv.Stats())
		}
	}
	if s := w.srv.Stats(); s.Acks == 0 || s.AckNoPath != 0 {
		t.Fatalf("controller %+v; want the ack sent on the host's paths", s)
	}
}
