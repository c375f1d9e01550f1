package wire

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Kind says what a packet holds. It travels in the clear, authenticated: a
// packet of one kind never opens as another.
type Kind byte

// Upstream kinds go from an agent to the controllers, downstream ones from
// the controller to one agent; a Relay goes either way, sealed by the peer
// that forwards it.
const (
	KindReport Kind = 1 // Report: upstream
	KindStop   Kind = 2 // Stop: upstream
	KindPeers  Kind = 3 // Peers: upstream
	KindGrant  Kind = 4 // Grant: downstream
	KindAck    Kind = 5 // Ack: downstream
	KindRetry  Kind = 6 // Retry: downstream
	KindRelay  Kind = 7 // Relay: a peer ↔ the controller
)

func (k Kind) String() string {
	switch k {
	case KindReport:
		return "report"
	case KindStop:
		return "stop"
	case KindPeers:
		return "peers"
	case KindGrant:
		return "grant"
	case KindAck:
		return "ack"
	case KindRetry:
		return "retry"
	case KindRelay:
		return "relay"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Upstream reports whether k goes from an agent to the controllers.
func (k Kind) Upstream() bool { return k == KindReport || k == KindStop || k == KindPeers }

// Downstream reports whether k goes from the controller to an agent.
func (k Kind) Downstream() bool { return k == KindGrant || k == KindAck || k == KindRetry }

// Message is one of Report, Stop, Peers, Grant, Ack, Retry and Relay. The
// host it concerns is not in it: it is the packet's, whose key seals it
// (the sender of an upstream message, the addressee of a downstream one).
type Message interface {
	Kind() Kind
	encode(*enc)
}

// Challenge is a controller process's proof of freshness (gate.go): the
// controller hands one out with every grant, and an agent echoes the latest
// it holds in every upstream message. Issuer names the controller process
// (random, chosen when it starts); At is when it issued the challenge, in
// milliseconds of that process's monotonic clock. Zero: none (an agent that
// has heard no controller yet).
type Challenge struct {
	Issuer uint64
	At     uint64
}

// IsZero reports whether c is no challenge.
func (c Challenge) IsZero() bool { return c == Challenge{} }

func (e *enc) challenge(c Challenge) {
	e.b = append(e.b, byte(c.Issuer>>56), byte(c.Issuer>>48), byte(c.Issuer>>40), byte(c.Issuer>>32),
		byte(c.Issuer>>24), byte(c.Issuer>>16), byte(c.Issuer>>8), byte(c.Issuer))
	e.uint(c.At)
}

func (d *dec) challenge() Challenge {
	var c Challenge
	for _, b := range d.take(8) {
		c.Issuer = c.Issuer<<8 | uint64(b)
	}
	c.At = d.uint()
	return c
}

// Report is an agent's report on one network: its SelfReport, sent on
// Network, directly or to a peer to relay. It is also its request for a
// grant. Seal each send on its own (each network, each relay): the gate
// takes a sealed packet once.
type Report struct {
	Network string
	Echo    Challenge
	Self    decision.SelfReport
}

// Kind is KindReport.
func (Report) Kind() Kind { return KindReport }

// Decision is the engine's input for r sealed by host and relayed by via
// ("" when it came directly).
func (r Report) Decision(host, via string) decision.AgentReport {
	return decision.AgentReport{Host: host, Network: r.Network, Self: r.Self, Via: via}
}

// SelfReport flags, in one byte.
const (
	flagNova = 1 << iota
	flagLibvirtd
	flagGuestsUnknown
	flagArmed
	flagStopping
	flagsKnown = flagNova | flagLibvirtd | flagGuestsUnknown | flagArmed | flagStopping
)

func (r Report) encode(e *enc) {
	s := r.Self
	e.challenge(r.Echo)
	e.str(r.Network)
	e.str(s.BootID)
	var f byte
	for _, b := range [...]struct {
		on  bool
		bit byte
	}{{s.NovaCompute.Running, flagNova}, {s.Libvirtd.Running, flagLibvirtd}, {s.GuestsUnknown, flagGuestsUnknown},
		{s.WatchdogArmed, flagArmed}, {s.Stopping, flagStopping}} {
		if b.on {
			f |= b.bit
		}
	}
	e.byte(f)
	e.int(int64(s.NovaCompute.Restarts))
	e.int(int64(s.Libvirtd.Restarts))
	e.strs(s.Domains)
	e.strs(s.Refused)
	e.str(s.Agent)
	e.uint(s.Ticket.Term)
	e.uint(s.Ticket.N)
	e.uint(s.Seq)
	e.dur(s.IsolationTimeout)
	e.dur(s.WatchdogTimeout)
}

func decodeReport(d *dec) Report {
	var r Report
	s := &r.Self
	r.Echo = d.challenge()
	r.Network = d.str()
	s.BootID = d.str()
	f := d.byte()
	if f&^flagsKnown != 0 {
		d.fail("unknown report flags %#x", f)
	}
	s.NovaCompute.Running, s.Libvirtd.Running = f&flagNova != 0, f&flagLibvirtd != 0
	s.GuestsUnknown, s.WatchdogArmed, s.Stopping = f&flagGuestsUnknown != 0, f&flagArmed != 0, f&flagStopping != 0
	s.NovaCompute.Restarts = d.count()
	s.Libvirtd.Restarts = d.count()
	s.Domains = d.strs()
	s.Refused = d.strs()
	s.Agent = d.str()
	s.Ticket.Term = d.uint()
	s.Ticket.N = d.uint()
	s.Seq = d.uint()
	s.IsolationTimeout = d.dur()
	s.WatchdogTimeout = d.dur()
	return r
}

// count reads an int that must fit the platform's int.
func (d *dec) count() int {
	v := d.int()
	if int64(int(v)) != v {
		d.fail("count %d out of range", v)
		return 0
	}
	return int(v)
}

// Stop is an agent process's clean-stop notice (decision.AgentStopping).
type Stop struct {
	Echo   Challenge
	BootID string
	Agent  string
	Ticket decision.Ticket
	Seq    uint64
}

// Kind is KindStop.
func (Stop) Kind() Kind { return KindStop }

// NewStop is the notice m, echoing echo.
func NewStop(m decision.AgentStopping, echo Challenge) Stop {
	return Stop{Echo: echo, BootID: m.BootID, Agent: m.Agent, Ticket: m.Ticket, Seq: m.Seq}
}

// Decision is the engine's input for s sealed by host.
func (s Stop) Decision(host string) decision.AgentStopping {
	return decision.AgentStopping{Host: host, BootID: s.BootID, Agent: s.Agent, Ticket: s.Ticket, Seq: s.Seq}
}

func (s Stop) encode(e *enc) {
	e.challenge(s.Echo)
	e.str(s.BootID)
	e.str(s.Agent)
	e.uint(s.Ticket.Term)
	e.uint(s.Ticket.N)
	e.uint(s.Seq)
}

func decodeStop(d *dec) Stop {
	var s Stop
	s.Echo = d.challenge()
	s.BootID = d.str()
	s.Agent = d.str()
	s.Ticket.Term = d.uint()
	s.Ticket.N = d.uint()
	s.Seq = d.uint()
	return s
}

// Peers is what one agent's probes saw of other hosts on one network: a
// batch of PeerReports whose observer is the host that seals it.
type Peers struct {
	Echo    Challenge
	Network string
	Seen    []Peer
}

// Peer is one probed host.
type Peer struct {
	Host      string
	Reachable bool
}

// Kind is KindPeers.
func (Peers) Kind() Kind { return KindPeers }

// NewPeers batches reports, which must all be of one observer on one
// network (the observer is the host that seals the batch).
func NewPeers(reports []decision.PeerReport, echo Challenge) (Peers, error) {
	p := Peers{Echo: echo}
	for i, r := range reports {
		if i == 0 {
			p.Network = r.Network
		}
		if r.Network != p.Network || r.Observer != reports[0].Observer {
			return Peers{}, fmt.Errorf("wire: a peers batch holds one observer on one network; got %s on %s and %s on %s",
				reports[0].Observer, p.Network, r.Observer, r.Network)
		}
		p.Seen = append(p.Seen, Peer{Host: r.Host, Reachable: r.Reachable})
	}
	return p, nil
}

// Decision is the engine's inputs for p sealed by observer.
func (p Peers) Decision(observer string) []decision.PeerReport {
	out := make([]decision.PeerReport, 0, len(p.Seen))
	for _, s := range p.Seen {
		out = append(out, decision.PeerReport{Observer: observer, Host: s.Host, Network: p.Network, Reachable: s.Reachable})
	}
	return out
}

func (p Peers) encode(e *enc) {
	e.challenge(p.Echo)
	e.str(p.Network)
	e.uint(uint64(len(p.Seen)))
	for _, s := range p.Seen {
		e.str(s.Host)
		e.bool(s.Reachable)
	}
}

func decodePeers(d *dec) Peers {
	var p Peers
	p.Echo = d.challenge()
	p.Network = d.str()
	n := d.uint()
	if n > uint64(len(d.b))/2 { // a peer takes two bytes at least
		d.fail("%d peers in %d bytes", n, len(d.b))
		return p
	}
	for range n {
		p.Seen = append(p.Seen, Peer{Host: d.str(), Reachable: d.bool()})
	}
	return p
}

// Grant is the leader's grant (decision.Grant), and the next challenge for
// the agent to echo.
type Grant struct {
	BootID string
	Agent  string
	Seq    uint64
	Token  uint64
	Ticket decision.Ticket
	Guests bool
	// The leader's timeouts (decision.Grant): no grant is held, nor a
	// device set, longer.
	IsolationTimeout, WatchdogTimeout time.Duration
	Next                              Challenge
}

// Kind is KindGrant.
func (Grant) Kind() Kind { return KindGrant }

// NewGrant is g, handing out next.
func NewGrant(g decision.Grant, next Challenge) Grant {
	return Grant{BootID: g.BootID, Agent: g.Agent, Seq: g.Seq, Token: g.Token, Ticket: g.Ticket, Guests: g.Guests,
		IsolationTimeout: g.IsolationTimeout, WatchdogTimeout: g.WatchdogTimeout, Next: next}
}

// Decision is the grant as the agent's Contract takes it, addressed to host.
func (g Grant) Decision(host string) decision.Grant {
	return decision.Grant{Host: host, BootID: g.BootID, Agent: g.Agent, Seq: g.Seq, Token: g.Token, Ticket: g.Ticket, Guests: g.Guests,
		IsolationTimeout: g.IsolationTimeout, WatchdogTimeout: g.WatchdogTimeout}
}

func (g Grant) encode(e *enc) {
	e.str(g.BootID)
	e.str(g.Agent)
	e.uint(g.Seq)
	e.uint(g.Token)
	e.uint(g.Ticket.Term)
	e.uint(g.Ticket.N)
	e.bool(g.Guests)
	e.dur(g.IsolationTimeout)
	e.dur(g.WatchdogTimeout)
	e.challenge(g.Next)
}

func decodeGrant(d *dec) Grant {
	var g Grant
	g.BootID = d.str()
	g.Agent = d.str()
	g.Seq = d.uint()
	g.Token = d.uint()
	g.Ticket.Term = d.uint()
	g.Ticket.N = d.uint()
	g.Guests = d.bool()
	g.IsolationTimeout = d.dur()
	g.WatchdogTimeout = d.dur()
	g.Next = d.challenge()
	return g
}

// Ack acknowledges a clean-stop notice (decision.Ack).
type Ack struct {
	BootID string
	Agent  string
	Seq    uint64
}

// Kind is KindAck.
func (Ack) Kind() Kind { return KindAck }

// NewAck is a.
func NewAck(a decision.Ack) Ack { return Ack{BootID: a.BootID, Agent: a.Agent, Seq: a.Seq} }

// Decision is the ack as the agent's Contract takes it, addressed to host.
func (a Ack) Decision(host string) decision.Ack {
	return decision.Ack{Host: host, BootID: a.BootID, Agent: a.Agent, Seq: a.Seq}
}

func (a Ack) encode(e *enc) {
	e.str(a.BootID)
	e.str(a.Agent)
	e.uint(a.Seq)
}

func decodeAck(d *dec) Ack {
	return Ack{BootID: d.str(), Agent: d.str(), Seq: d.uint()}
}

// Retry answers an upstream message the gate refused for its challenge
// (ErrStale, ErrNoChallenge): the agent echoes Next from now on and may
// send again at once.
type Retry struct {
	Next Challenge
	Why  RetryReason
}

// RetryReason is why the message was refused.
type RetryReason byte

const (
	RetryUnknown RetryReason = 1 // its challenge is none, or another controller process's
	RetryStale   RetryReason = 2 // its challenge is older than the window
)

// Kind is KindRetry.
func (Retry) Kind() Kind { return KindRetry }

func (r Retry) encode(e *enc) {
	e.challenge(r.Next)
	e.byte(byte(r.Why))
}

func decodeRetry(d *dec) Retry {
	r := Retry{Next: d.challenge(), Why: RetryReason(d.byte())}
	if r.Why != RetryUnknown && r.Why != RetryStale {
		d.fail("unknown retry reason %d", r.Why)
	}
	return r
}

// Relay is another host's sealed packet, forwarded unread: a peer wraps an
// agent's upstream packet for the controller, and the controller wraps a
// downstream packet for the peer to hand on. The relay is sealed with the
// forwarding peer's key, the inner packet with the other host's: the peer
// can neither read nor alter it.
type Relay struct{ Inner []byte }

// Kind is KindRelay.
func (Relay) Kind() Kind { return KindRelay }

func (r Relay) encode(e *enc) { e.bytes(r.Inner) }

func decodeRelay(d *dec) Relay {
	r := Relay{Inner: d.bytes()}
	if len(r.Inner) == 0 {
		d.fail("an empty relay")
	}
	return r
}

// Encode is m's body, as it is sealed.
func Encode(m Message) []byte {
	e := enc{b: make([]byte, 0, 256)}
	m.encode(&e)
	return e.b
}

// Decode reads a body of kind k: strict, so Decode succeeding implies
// Encode gives b back.
func Decode(k Kind, b []byte) (Message, error) {
	d := &dec{b: b}
	var m Message
	switch k {
	case KindReport:
		m = decodeReport(d)
	case KindStop:
		m = decodeStop(d)
	case KindPeers:
		m = decodePeers(d)
	case KindGrant:
		m = decodeGrant(d)
	case KindAck:
		m = decodeAck(d)
	case KindRetry:
		m = decodeRetry(d)
	case KindRelay:
		m = decodeRelay(d)
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, byte(k))
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	return m, nil
}
