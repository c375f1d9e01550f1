package wire

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Replay protection (docs/architecture.md, "The wire"). Every upstream
// message echoes a challenge the controller process handed out (in a grant
// or a Retry), named by the process and stamped with its own monotonic
// clock. The gate takes a message only when its challenge is its own and at
// most Window old by that clock, and only once: so every message taken was
// sealed after its challenge was issued and arrived within Window of that,
// and a replay is never more than a message delayed by at most Window. A
// restarted or newly elected controller is a new process whose challenges
// nothing echoes yet: no packet recorded before it started is taken. No
// clock of any other machine is read or compared.

// Errors of Gate.Receive.
var (
	// ErrReplay: the gate took this very packet already.
	ErrReplay = errors.New("wire: replayed")
	// ErrStale: the message echoes a challenge older than the window: a
	// replay, or a message late by that much. Answer with a Retry.
	ErrStale = errors.New("wire: stale challenge")
	// ErrNoChallenge: the message echoes no challenge of this controller
	// process: the agent just started, the controller did (a restart or a
	// new leader), or it is a replay of a packet of an earlier process.
	// Answer with a Retry.
	ErrNoChallenge = errors.New("wire: not this controller's challenge")
	// ErrUnexpected: a kind the receiver never takes there (a grant sent
	// to a controller, a relay in a relay).
	ErrUnexpected = errors.New("wire: unexpected message")
)

// GateConfig configures a Gate.
type GateConfig struct {
	// Window is how long a challenge stays good after its issue. An agent
	// echoes the latest it holds, handed out with each grant, so in the
	// steady state a challenge is one report interval plus a round trip
	// old; a few lost grants make it older. A replay can make a message
	// look at most this late.
	Window time.Duration
}

// DefaultGateConfig suits agent.report_interval 1 s: five intervals.
func DefaultGateConfig() GateConfig { return GateConfig{Window: 5 * time.Second} }

// Validate refuses a window below a second (grants would not keep up) or
// above a minute (replays could keep a dead host looking alive that long).
func (c GateConfig) Validate() error {
	if c.Window < time.Second || c.Window > time.Minute {
		return fmt.Errorf("wire: gate window %v: give 1s to 1m (about five agent report intervals)", c.Window)
	}
	return nil
}

// Gate is a controller process's door for upstream packets: it opens them,
// unwraps relays, and takes each fresh packet once. It is safe for
// concurrent use.
type Gate struct {
	window time.Duration
	issuer uint64

	// mu guards keys and the packets taken; packets are opened outside
	// it.
	mu   sync.Mutex
	keys Keys
	// seen holds the nonces (their first 16 bytes, random) of packets
	// taken, by the second their challenge was issued; a second is
	// dropped once all its challenges are stale.
	seen   map[uint64]map[[16]byte]struct{}
	oldest uint64 // no second before it is kept
}

// NewGate is a gate with keys, as a new controller process: its challenges
// are its own, and no earlier process's are taken.
func NewGate(cfg GateConfig, keys Keys) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b [8]byte
	for binary.BigEndian.Uint64(b[:]) == 0 {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	}
	return &Gate{window: cfg.Window, issuer: binary.BigEndian.Uint64(b[:]), keys: keys, seen: map[uint64]map[[16]byte]struct{}{}}, nil
}

// SetKeys replaces the keys (a rotation, a host added) without forgetting
// what was taken or the challenges handed out.
func (g *Gate) SetKeys(k Keys) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keys = k
}

// Challenge is the challenge to hand out now. now is the controller
// process's monotonic clock (time since it started; never negative).
func (g *Gate) Challenge(now time.Duration) Challenge {
	return Challenge{Issuer: g.issuer, At: millis(now)}
}

func millis(d time.Duration) uint64 { return uint64(max(d, 0) / time.Millisecond) }

// Inbound is an upstream message the gate took.
type Inbound struct {
	// Host sent it; KeyID is its key's generation, the one to answer
	// with.
	Host  string
	KeyID uint32
	// Via is the peer that relayed it ("" direct); ViaKeyID its key's
	// generation, the one to seal the relayed answer with.
	Via      string
	ViaKeyID uint32
	Msg      Message // a Report, Stop or Peers
}

// Receive opens packet b received now (the clock of Challenge) and takes
// it if it is fresh and new. On ErrStale and ErrNoChallenge the returned
// Inbound names whom to answer with a Retry (Host, KeyID, Via, ViaKeyID),
// and its message must not be used; answer nothing else that is refused
// (a replay gets no answer).
func (g *Gate) Receive(b []byte, now time.Duration) (Inbound, error) {
	g.mu.Lock()
	keys := g.keys
	g.mu.Unlock()
	in, p, err := g.open(keys, b)
	if err != nil {
		return Inbound{}, err
	}
	in.Host, in.KeyID = p.Host, p.KeyID
	if err := g.fresh(p, now); err != nil {
		return in, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.take(p, now); err != nil {
		return Inbound{}, err
	}
	in.Msg = p.Msg
	return in, nil
}

// open opens b, and the packet it relays if it is a relay: the upstream
// packet, and who relayed it.
func (g *Gate) open(keys Keys, b []byte) (Inbound, Packet, error) {
	p, err := Open(keys, b)
	if err != nil {
		return Inbound{}, Packet{}, err
	}
	var in Inbound
	if r, ok := p.Msg.(Relay); ok {
		in.Via, in.ViaKeyID = p.Host, p.KeyID
		if p, err = Open(keys, r.Inner); err != nil {
			return Inbound{}, Packet{}, fmt.Errorf("relayed by %s: %w", in.Via, err)
		}
		if p.Host == in.Via {
			return Inbound{}, Packet{}, fmt.Errorf("%w: %s relays its own %s", ErrUnexpected, in.Via, p.Kind)
		}
	}
	if !p.Kind.Upstream() {
		return Inbound{}, Packet{}, fmt.Errorf("%w: a %s from %s reached a controller", ErrUnexpected, p.Kind, p.Host)
	}
	return in, p, nil
}

// fresh checks that p echoes one of this process's challenges, issued at
// most the window before now.
func (g *Gate) fresh(p Packet, now time.Duration) error {
	echo, at := echoOf(p.Msg), millis(now)
	switch {
	case echo.Issuer != g.issuer:
		return fmt.Errorf("%w: %s from %s echoes %s", ErrNoChallenge, p.Kind, p.Host, describe(echo))
	case echo.At > at:
		return fmt.Errorf("%w: %s from %s echoes a challenge from this process's future (%d ms, now %d ms)", ErrNoChallenge, p.Kind, p.Host, echo.At, at)
	case at-echo.At > millis(g.window):
		return fmt.Errorf("%w: %s from %s echoes a challenge issued %v ago, beyond the %v window (a replay, or delayed that long)",
			ErrStale, p.Kind, p.Host, time.Duration(at-echo.At)*time.Millisecond, g.window)
	}
	return nil
}

// take records p as taken, unless it was already. g.mu is held.
func (g *Gate) take(p Packet, now time.Duration) error {
	g.forget(millis(now))
	sec, id := echoOf(p.Msg).At/1000, [16]byte(p.Nonce[:16])
	if _, dup := g.seen[sec][id]; dup {
		return fmt.Errorf("%w: %s from %s taken already", ErrReplay, p.Kind, p.Host)
	}
	if g.seen[sec] == nil {
		g.seen[sec] = map[[16]byte]struct{}{}
	}
	g.seen[sec][id] = struct{}{}
	return nil
}

// forget drops the seconds whose every challenge is stale at at.
func (g *Gate) forget(at uint64) {
	w := millis(g.window)
	if at < w+1000 {
		return
	}
	cutoff := (at - w) / 1000
	if cutoff <= g.oldest {
		return
	}
	if cutoff-g.oldest > uint64(len(g.seen)) {
		for s := range g.seen {
			if s < cutoff {
				delete(g.seen, s)
			}
		}
	} else {
		for s := g.oldest; s < cutoff; s++ {
			delete(g.seen, s)
		}
	}
	g.oldest = cutoff
}

func describe(c Challenge) string {
	if c.IsZero() {
		return "no challenge (an agent that heard no controller yet)"
	}
	return fmt.Sprintf("controller process %016x's challenge (another process: this controller restarted, or another led)", c.Issuer)
}

func echoOf(m Message) Challenge {
	switch m := m.(type) {
	case Report:
		return m.Echo
	case Stop:
		return m.Echo
	case Peers:
		return m.Echo
	}
	return Challenge{}
}

// Inputs are the engine's inputs for in.
func (in Inbound) Inputs() []decision.Input {
	switch m := in.Msg.(type) {
	case Report:
		return []decision.Input{m.Decision(in.Host, in.Via)}
	case Stop:
		return []decision.Input{m.Decision(in.Host)}
	case Peers:
		var out []decision.Input
		for _, r := range m.Decision(in.Host) {
			out = append(out, r)
		}
		return out
	}
	return nil
}
