package uplink

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/wire"
)

var _ agent.Outbox = (*Uplink)(nil)

// Uplink is one agent process's sockets, one per network.
//
// Challenges: the agent holds one, the newest a grant or a Retry handed it
// from whichever controller process sent it, and echoes it on every
// network and through every relay. Only the leader grants and only a
// leading member answers with a Retry, so it is the leader's; a follower
// gets the same packets and drops them unopened. A new leader refuses the
// first message of each network (ErrNoChallenge), its Retry hands the
// agent its challenge, and the agent resends at once: a failover costs one
// round trip. One challenge per controller address would spare that trip
// only if followers kept every agent's challenge fresh with a Retry per
// window, and a relayed packet, sealed once for every controller, could
// echo one of them only.
type Uplink struct {
	host   string
	keys   wire.HostKeys
	cfg    Config
	clock  func() time.Duration
	log    *slog.Logger
	links  []*link
	byName map[string]*link
	stats  counters

	// mu guards echo and the state of every link below its line.
	mu   sync.Mutex
	echo wire.Challenge
}

// link is one network's socket and what the agent knows of its paths.
type link struct {
	name   string
	conn   *net.UDPConn
	ctls   []netip.AddrPort
	peers  []peer // this host's own order: hosts of a rack start at different peers
	byAddr map[netip.AddrPort]int
	byHost map[string]int

	// Guarded by Uplink.mu. heard: a controller last answered directly
	// (answered: ever). last: the report or stop notice last sent, which
	// a Retry has resent once at most by each path.
	heard                     time.Duration
	answered                  bool
	last                      pending
	resentDirect, resentRelay bool
	// relay: the peer the agent relays through while it hears no
	// controller; since when, and when it last brought something back.
	relay                  int
	relaying               bool
	relaySince, relayHeard time.Duration
	lim                    []bucket // what this host relays for each peer
}

type peer struct {
	host string
	addr netip.AddrPort
}

// pending is a message as the agent gave it, sealed anew for every send.
type pending struct {
	report *decision.AgentReport
	stop   *decision.AgentStopping
	peers  []decision.PeerReport
}

func (m pending) message(network string, echo wire.Challenge) (wire.Message, error) {
	switch {
	case m.report != nil:
		return wire.Report{Network: network, Echo: echo, Self: m.report.Self}, nil
	case m.stop != nil:
		return wire.NewStop(*m.stop, echo), nil
	}
	return wire.NewPeers(m.peers, echo)
}

// New binds a socket per network.
func New(cfg Config) (*Uplink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u := &Uplink{host: cfg.Keys.Host(), keys: cfg.Keys, cfg: cfg, clock: cfg.Clock, log: cfg.Log, byName: map[string]*link{}}
	if u.clock == nil {
		start := time.Now()
		u.clock = func() time.Duration { return time.Since(start) }
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	now := u.clock()
	h := fnv.New32a()
	h.Write([]byte(u.host))
	for _, n := range cfg.Networks {
		l := &link{name: n.Name, byAddr: map[netip.AddrPort]int{}, byHost: map[string]int{}, heard: now}
		for _, c := range n.Controllers {
			l.ctls = append(l.ctls, netip.MustParseAddrPort(c))
		}
		for i := range n.Peers {
			p := n.Peers[(i+int(h.Sum32()%uint32(len(n.Peers))))%len(n.Peers)]
			ap := netip.MustParseAddrPort(p.Addr)
			l.byAddr[ap], l.byHost[p.Host] = len(l.peers), len(l.peers)
			l.peers = append(l.peers, peer{host: p.Host, addr: ap})
			l.lim = append(l.lim, bucket{tokens: float64(cfg.RelayBurst), at: now})
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(n.Listen)))
		if err != nil {
			u.Close()
			return nil, fmt.Errorf("uplink: network %s: listen %s: %w", n.Name, n.Listen, err)
		}
		l.conn = conn
		u.links = append(u.links, l)
		u.byName[n.Name] = l
	}
	return u, nil
}

// Close closes the sockets; Run closes them when its context ends.
func (u *Uplink) Close() {
	for _, l := range u.links {
		_ = l.conn.Close()
	}
}

// Report sends r on network: to every controller there, and through a
// peer too while the agent hears no controller on any network.
func (u *Uplink) Report(_ context.Context, network string, r decision.AgentReport) error {
	return u.send(network, pending{report: &r}, true)
}

// Stopping sends the clean-stop notice s on network, as Report.
func (u *Uplink) Stopping(_ context.Context, network string, s decision.AgentStopping) error {
	return u.send(network, pending{stop: &s}, true)
}

// Peers sends one network's observations of other hosts (all of one
// network, this host the observer), as Report; a Retry does not resend
// them (the next probe round does).
func (u *Uplink) Peers(_ context.Context, network string, reps []decision.PeerReport) error {
	return u.send(network, pending{peers: reps}, false)
}

func (u *Uplink) send(network string, m pending, keep bool) error {
	l := u.byName[network]
	if l == nil {
		return fmt.Errorf("uplink: no network %q configured", network)
	}
	now := u.clock()
	u.mu.Lock()
	if keep {
		l.last, l.resentDirect, l.resentRelay = m, false, false
	}
	echo := u.echo
	via, relay := u.relayLocked(l, now)
	u.mu.Unlock()
	var errs []error
	for _, c := range l.ctls {
		errs = append(errs, u.write(l, c, m, echo))
	}
	if relay {
		u.stats.viaPeer.Add(1)
		errs = append(errs, u.write(l, via, m, echo))
	}
	return errors.Join(errs...)
}

// write seals m, echoing echo, and sends it to dst.
func (u *Uplink) write(l *link, dst netip.AddrPort, m pending, echo wire.Challenge) error {
	msg, err := m.message(l.name, echo)
	if err != nil {
		return err
	}
	b, err := wire.Seal(u.keys.Newest(), u.host, msg)
	if err != nil {
		return err
	}
	_, err = l.conn.WriteToUDPAddrPort(b, dst)
	return err
}

// cutLocked reports whether no controller answered directly on any
// network within Silence.
func (u *Uplink) cutLocked(now time.Duration) bool {
	for _, l := range u.links {
		if now-l.heard < u.cfg.Silence {
			return false
		}
	}
	return true
}

// relayLocked is the peer to relay l's next message through, if the agent
// is cut off: the current one, or the next once the current one brought
// nothing back for Silence.
func (u *Uplink) relayLocked(l *link, now time.Duration) (netip.AddrPort, bool) {
	if len(l.peers) == 0 || !u.cutLocked(now) {
		l.relaying = false
		return netip.AddrPort{}, false
	}
	switch {
	case !l.relaying:
		l.relaying, l.relaySince = true, now
	case now-l.relaySince >= u.cfg.Silence && now-l.relayHeard >= u.cfg.Silence:
		l.relay = (l.relay + 1) % len(l.peers)
		l.relaySince = now
		u.log.Info("relay silent: trying the next peer", "network", l.name, "peer", l.peers[l.relay].host)
	}
	return l.peers[l.relay].addr, true
}

// Run receives on every socket until ctx ends, handing grants and acks
// to in (give it a buffer: a receive waits while in is full), then closes
// the sockets.
func (u *Uplink) Run(ctx context.Context, in chan<- agent.Inbound) error {
	var wg sync.WaitGroup
	for _, l := range u.links {
		wg.Add(1)
		go func() { defer wg.Done(); u.read(ctx, l, in) }()
	}
	<-ctx.Done()
	u.Close()
	wg.Wait()
	return ctx.Err()
}

func (u *Uplink) read(ctx context.Context, l *link, in chan<- agent.Inbound) {
	buf := make([]byte, wire.MaxPacket+1)
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			u.log.Warn("uplink socket read failed", "network", l.name, "err", err)
			continue
		}
		u.handle(ctx, l, buf[:n], src, in)
	}
}

// handle takes one packet b from src on l: a peer's, to relay, or one
// sealed for this host.
func (u *Uplink) handle(ctx context.Context, l *link, b []byte, src netip.AddrPort, in chan<- agent.Inbound) {
	h, err := wire.Peek(b)
	if err != nil {
		u.stats.dropped.Add(1)
		return
	}
	if h.Host != u.host {
		if h.Kind.Upstream() {
			u.relayUp(l, b, src, h.Host)
		} else {
			u.stats.dropped.Add(1)
		}
		return
	}
	p, err := wire.OpenDown(u.keys, b)
	if err != nil {
		u.stats.dropped.Add(1)
		u.log.Debug("packet refused", "network", l.name, "addr", src.String(), "err", err)
		return
	}
	u.stats.received.Add(1)
	now := u.clock()
	var m agent.Inbound
	switch msg := p.Msg.(type) {
	case wire.Relay:
		u.relayDown(l, msg.Inner)
		return
	case wire.Retry:
		if u.arrived(l, src, msg.Next, now) {
			u.resend(l, src)
		}
		return
	case wire.Grant:
		u.arrived(l, src, msg.Next, now)
		g := msg.Decision(u.host)
		m.Grant = &g
	case wire.Ack:
		u.arrived(l, src, wire.Challenge{}, now)
		a := msg.Decision(u.host)
		m.Ack = &a
	}
	select {
	case in <- m:
	case <-ctx.Done():
	}
}

// arrived notes a downstream packet from src handing out next (none for
// an ack), and reports whether it was taken as news: a challenge older than
// the one held, of the same controller process, is a replayed or reordered
// packet, which neither moves the challenge back nor says the path works.
func (u *Uplink) arrived(l *link, src netip.AddrPort, next wire.Challenge, now time.Duration) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !next.IsZero() {
		if next.Issuer == u.echo.Issuer && next.At < u.echo.At {
			return false
		}
		u.echo = next
	}
	if i, ok := l.byAddr[src]; ok {
		if i == l.relay {
			l.relayHeard = now
		}
	} else {
		l.heard, l.answered = now, true
	}
	return true
}

// resend sends l's last report or stop notice again, echoing the
// challenge a Retry from src just handed out, to src (the controller, or
// the peer that relayed the Retry): once per message and path.
func (u *Uplink) resend(l *link, src netip.AddrPort) {
	u.mu.Lock()
	_, viaPeer := l.byAddr[src]
	m, echo := l.last, u.echo
	done := &l.resentDirect
	if viaPeer {
		done = &l.resentRelay
	}
	if *done || (m.report == nil && m.stop == nil) {
		u.mu.Unlock()
		return
	}
	*done = true
	u.mu.Unlock()
	u.stats.resent.Add(1)
	if err := u.write(l, src, m, echo); err != nil {
		u.log.Debug("resend failed", "network", l.name, "err", err)
	}
}

// relayUp forwards a configured peer's upstream packet b to every
// controller on l, wrapped and sealed on its own for each, while this host
// hears a controller directly there and the peer is within its limit.
func (u *Uplink) relayUp(l *link, b []byte, src netip.AddrPort, host string) {
	now := u.clock()
	u.mu.Lock()
	i, ok := l.byHost[host]
	ok = ok && l.peers[i].addr == src && l.answered && now-l.heard < u.cfg.Silence &&
		l.lim[i].take(now, float64(time.Second)/float64(u.cfg.RelayEvery), float64(u.cfg.RelayBurst))
	u.mu.Unlock()
	if !ok {
		u.stats.relayRefused.Add(1)
		return
	}
	u.stats.relayed.Add(1) // before it goes: whoever receives it sees the count
	for _, c := range l.ctls {
		w, err := wire.WrapRelay(u.keys.Newest(), u.host, b)
		if err == nil {
			_, err = l.conn.WriteToUDPAddrPort(w, c)
		}
		if err != nil {
			u.log.Debug("relay failed", "network", l.name, "peer", host, "err", err)
			return
		}
	}
}

// relayDown hands a downstream packet the controller sent through this
// host on to the configured peer it is for.
func (u *Uplink) relayDown(l *link, inner []byte) {
	h, err := wire.Peek(inner) // OpenDown checked it is a downstream packet for another host
	i, ok := l.byHost[h.Host]
	if err != nil || !ok {
		u.stats.dropped.Add(1)
		return
	}
	u.stats.relayedDown.Add(1)
	if _, err := l.conn.WriteToUDPAddrPort(inner, l.peers[i].addr); err != nil {
		u.log.Debug("relay failed", "network", l.name, "peer", h.Host, "err", err)
	}
}

// Stats counts what the uplink did since New.
type Stats struct {
	Received uint64 // packets for this host that opened
	Dropped  uint64 // packets that did not open, or were for no one it relays for
	Resent   uint64 // messages resent at once on a Retry
	ViaPeer  uint64 // own messages sent through a peer as well
	// Relayed and RelayedDown: peers' packets forwarded to the controllers
	// and back; RelayRefused: peers' packets not forwarded (not a
	// configured peer at its address, no controller heard here, over the
	// limit).
	Relayed, RelayedDown, RelayRefused uint64
}

type counters struct {
	received, dropped, resent, viaPeer, relayed, relayedDown, relayRefused atomic.Uint64
}

// Stats is what the uplink counted so far.
func (u *Uplink) Stats() Stats {
	c := &u.stats
	return Stats{Received: c.received.Load(), Dropped: c.dropped.Load(), Resent: c.resent.Load(), ViaPeer: c.viaPeer.Load(),
		Relayed: c.relayed.Load(), RelayedDown: c.relayedDown.Load(), RelayRefused: c.relayRefused.Load()}
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Duration
}

// take takes a token at now, refilled at rate a second up to max.
func (b *bucket) take(now time.Duration, rate, max float64) bool {
	if now > b.at {
		b.tokens = min(max, b.tokens+rate*(now-b.at).Seconds())
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
