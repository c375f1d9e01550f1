package wire_test

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/wire"
)

// Downstream packets need no gate: a grant is bound to the agent process
// and the report it answers, and counts from when that report was sent
// (agent.Contract), so a replayed grant is the grant the agent already
// took. Here the packets a real agent receives are recorded and replayed
// to it, late and after a restart: none extends its grant, none disarms.
func TestReplayedGrantsAndAcksDeliverNothing(t *testing.T) {
	secret, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	controller, err := wire.NewClusterKeys([]wire.Secret{secret}, []string{"cmp1"})
	if err != nil {
		t.Fatal(err)
	}
	host, err := wire.HostKeysFrom([]wire.Secret{secret}, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	gate, err := wire.NewGate(wire.DefaultGateConfig(), controller)
	if err != nil {
		t.Fatal(err)
	}
	const iso = 10 * time.Second
	c, err := agent.NewContract("b1", "p1", iso, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	// deliver opens a downstream packet at the agent and hands it to c.
	deliver := func(c *agent.Contract, b []byte) {
		t.Helper()
		p, err := wire.OpenDown(host, b)
		if err != nil {
			t.Fatal(err)
		}
		switch m := p.Msg.(type) {
		case wire.Grant:
			c.Granted(m.Decision(p.Host))
		case wire.Ack:
			c.Acked(m.Decision(p.Host))
		}
	}
	// The controller's side: a grant for the report sent at agent time at.
	var echo wire.Challenge
	var grants [][]byte
	report := func(c *agent.Contract, at time.Duration) {
		t.Helper()
		s := c.Report(at, decision.SelfReport{})
		b, err := wire.Seal(host.Newest(), "cmp1", wire.Report{Network: "mgmt", Echo: echo, Self: s})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Hour + at
		in, err := gate.Receive(b, now)
		if err != nil {
			echo = gate.Challenge(now) // the first report: a Retry
			return
		}
		r := in.Msg.(wire.Report)
		k, _ := controller.Lookup(in.Host, in.KeyID)
		echo = gate.Challenge(now)
		g, _ := wire.Seal(k, in.Host, wire.NewGrant(decision.Grant{Host: in.Host, BootID: r.Self.BootID, Agent: r.Self.Agent, Seq: r.Self.Seq}, echo))
		grants = append(grants, g)
		deliver(c, g)
	}
	for s := range 5 {
		report(c, time.Duration(s)*time.Second)
	}
	if len(grants) != 4 || !c.HoldsGrant(4*time.Second+iso-1) || c.HoldsGrant(4*time.Second+iso) {
		t.Fatalf("setup: %d grants; want the last valid until 14s", len(grants))
	}
	// Cut off from here on; every grant ever sent replayed, late.
	for _, g := range grants {
		deliver(c, g)
	}
	if c.HoldsGrant(4*time.Second + iso) {
		t.Fatal("a replayed grant extended the agent's grant past the report it answers")
	}

	// A clean stop acknowledged; a successor on the same boot gets the
	// replayed ack and every replayed grant.
	m := c.Stop()
	ack, _ := wire.Seal(host.Newest(), "cmp1", wire.NewAck(decision.Ack{Host: "cmp1", BootID: m.BootID, Agent: m.Agent, Seq: m.Seq}))
	deliver(c, ack)
	if c.Armed() {
		t.Fatal("setup: the ack did not disarm")
	}
	next, err := agent.NewContract("b1", "p2", iso, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	next.Report(20*time.Second, decision.SelfReport{})
	next.Stop()
	for _, b := range append(grants, ack) {
		deliver(next, b)
	}
	if next.HoldsGrant(20*time.Second) || !next.Armed() {
		t.Fatal("a replayed packet of its predecessor granted or disarmed the new agent process")
	}
}
