package agentnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/wire"
)

// Runner is the leader's loop as the server uses it (controller.Runner).
type Runner interface {
	// Report steps an agent's report and returns its grant.
	Report(ctx context.Context, r decision.AgentReport) (decision.Grant, error)
	// Submit hands the loop another input (a stop notice, a peer report).
	Submit(in decision.Input)
	// Leading says whether this member leads: a follower answers nothing.
	Leading() bool
}

// Server is one controller process's end of the agents' transport.
type Server struct {
	cfg   Config
	clock func() time.Duration
	gate  *wire.Gate
	lim   *limiter
	socks []*socket
	log   *slog.Logger
	stats counters

	// mu guards keys and paths.
	mu   sync.Mutex
	keys wire.Keys
	// paths is the last way each host's messages came on each network:
	// where its acknowledgements go.
	paths map[string]map[string]path
}

type socket struct {
	network string
	conn    *net.UDPConn
}

// path is how one host's message came in: from addr on sock, sealed with
// key id keyID, relayed by via (sealed with viaKeyID) unless via is "".
type path struct {
	sock     *socket
	addr     netip.AddrPort
	keyID    uint32
	via      string
	viaKeyID uint32
}

// Listen binds a socket per network and starts a new gate: a new
// controller process, whose challenges no agent holds yet. keys are every
// configured host's (wire.NewClusterKeys).
func Listen(cfg Config, keys wire.Keys) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	gate, err := wire.NewGate(cfg.Gate, keys)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, clock: cfg.Clock, gate: gate, keys: keys, log: cfg.Log,
		lim: newLimiter(cfg.RetryBurst, cfg.RetryEvery, cfg.RetryPerSecond), paths: map[string]map[string]path{}}
	if s.clock == nil {
		start := time.Now()
		s.clock = func() time.Duration { return time.Since(start) } // monotonic
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, n := range cfg.Networks {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(n.Listen)))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("agentnet: network %s: listen %s: %w", n.Name, n.Listen, err)
		}
		_ = conn.SetReadBuffer(4 << 20) // bursts after a failover; the kernel caps it at rmem_max
		s.socks = append(s.socks, &socket{network: n.Name, conn: conn})
	}
	return s, nil
}

// Addr is the address the socket of network listens on (the zero
// AddrPort for a network not configured).
func (s *Server) Addr(network string) netip.AddrPort {
	for _, k := range s.socks {
		if k.network == network {
			return k.conn.LocalAddr().(*net.UDPAddr).AddrPort()
		}
	}
	return netip.AddrPort{}
}

// SetKeys replaces the keys (a rotation, hosts added), keeping the
// challenges handed out and the packets taken.
func (s *Server) SetKeys(k wire.Keys) {
	s.mu.Lock()
	s.keys = k
	s.mu.Unlock()
	s.gate.SetKeys(k)
}

// Stats is what the server counted so far.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Close closes the sockets; Run closes them when its context ends.
func (s *Server) Close() {
	for _, k := range s.socks {
		_ = k.conn.Close()
	}
}

// Run serves r until ctx ends, then closes the sockets.
func (s *Server) Run(ctx context.Context, r Runner) error {
	var wg sync.WaitGroup
	for _, k := range s.socks {
		for range s.cfg.Readers {
			wg.Add(1)
			go func() { defer wg.Done(); s.read(ctx, k, r) }()
		}
	}
	<-ctx.Done()
	s.Close()
	wg.Wait()
	return ctx.Err()
}

func (s *Server) read(ctx context.Context, k *socket, r Runner) {
	buf := make([]byte, wire.MaxPacket+1)
	for {
		n, src, err := k.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("agent socket read failed", "network", k.network, "err", err)
			continue
		}
		s.handle(ctx, k, buf[:n], src, r)
	}
}

// handle takes one packet b from src on k.
func (s *Server) handle(ctx context.Context, k *socket, b []byte, src netip.AddrPort, r Runner) {
	if !r.Leading() {
		s.stats.notLeading.Add(1)
		return
	}
	in, err := s.gate.Receive(b, s.clock())
	if err != nil {
		s.stats.refused(err)
		s.log.Debug("agent packet refused", "network", k.network, "addr", src.String(), "err", err)
		switch {
		case errors.Is(err, wire.ErrStale):
			s.retry(k, src, in, wire.RetryStale)
		case errors.Is(err, wire.ErrNoChallenge):
			s.retry(k, src, in, wire.RetryUnknown)
		}
		return
	}
	if m, ok := in.Msg.(wire.Report); ok && m.Network != k.network {
		s.stats.wrongNetwork.Add(1)
		s.log.Warn("agent report names another network than it came on", "host", in.Host, "network", k.network, "named", m.Network)
		return
	}
	s.stats.taken.Add(1)
	if in.Via != "" {
		s.stats.relayed.Add(1)
	}
	s.remember(in, k, src)
	switch m := in.Msg.(type) {
	case wire.Report:
		ctx, cancel := context.WithTimeout(ctx, s.cfg.ReportTimeout)
		g, err := r.Report(ctx, m.Decision(in.Host, in.Via))
		cancel()
		if err != nil {
			s.stats.ungranted.Add(1)
			s.log.Debug("agent report not granted", "host", in.Host, "network", k.network, "err", err)
			return
		}
		s.send(k, src, in.Host, in.KeyID, in.Via, in.ViaKeyID, wire.NewGrant(g, s.gate.Challenge(s.clock())), &s.stats.grants)
	case wire.Stop:
		r.Submit(m.Decision(in.Host))
	case wire.Peers:
		for _, p := range m.Decision(in.Host) {
			r.Submit(p)
		}
	}
}

// retry answers a message refused for its challenge, if the limits allow.
func (s *Server) retry(k *socket, src netip.AddrPort, in wire.Inbound, why wire.RetryReason) {
	if !s.lim.allow(src, s.clock()) {
		s.stats.retriesLimited.Add(1)
		return
	}
	s.send(k, src, in.Host, in.KeyID, in.Via, in.ViaKeyID, wire.Retry{Next: s.gate.Challenge(s.clock()), Why: why}, &s.stats.retries)
}

func (s *Server) remember(in wire.Inbound, k *socket, src netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paths[in.Host]
	if p == nil {
		p = map[string]path{}
		s.paths[in.Host] = p
	}
	p[k.network] = path{sock: k, addr: src, keyID: in.KeyID, via: in.Via, viaKeyID: in.ViaKeyID}
}

// Ack sends a clean stop's acknowledgement to its agent on every network
// it was last heard on, directly or through the peer that relayed it: the
// Runner's Ack callback.
func (s *Server) Ack(a decision.Ack) {
	s.mu.Lock()
	var ps []path
	for _, p := range s.paths[a.Host] {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	if len(ps) == 0 {
		s.stats.ackNoPath.Add(1)
		s.log.Warn("acknowledgement for a host never heard from: not sent", "host", a.Host)
		return
	}
	for _, p := range ps {
		s.send(p.sock, p.addr, a.Host, p.keyID, p.via, p.viaKeyID, wire.NewAck(a), &s.stats.acks)
	}
}

// send seals m for host with key id keyID, wraps it for via if it came
// through a peer, counts it in sent and sends it to dst on k (counted
// before it goes: whoever receives it sees the count).
func (s *Server) send(k *socket, dst netip.AddrPort, host string, keyID uint32, via string, viaKeyID uint32, m wire.Message, sent *atomic.Uint64) {
	b, err := s.seal(host, keyID, via, viaKeyID, m)
	if err == nil {
		sent.Add(1)
		_, err = k.conn.WriteToUDPAddrPort(b, dst)
	}
	if err != nil {
		s.stats.sendFailed.Add(1)
		s.log.Warn("agent packet not sent", "host", host, "network", k.network, "kind", m.Kind().String(), "err", err)
	}
}

func (s *Server) seal(host string, keyID uint32, via string, viaKeyID uint32, m wire.Message) ([]byte, error) {
	s.mu.Lock()
	keys := s.keys
	s.mu.Unlock()
	k, err := keys.Lookup(host, keyID)
	if err != nil {
		return nil, err
	}
	b, err := wire.Seal(k, host, m)
	if err != nil || via == "" {
		return b, err
	}
	vk, err := keys.Lookup(via, viaKeyID)
	if err != nil {
		return nil, err
	}
	return wire.WrapRelay(vk, via, b)
}
