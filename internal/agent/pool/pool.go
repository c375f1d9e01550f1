package pool

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/internal/decision"
)

// ErrBind: the pool could not bind its address (in use, or not this
// host's). The agent names the field it came from.
var ErrBind = errors.New("pool: bind")

// LeaveTimeout bounds a clean stop's farewell to the pool.
const LeaveTimeout = time.Second

// Pool is this host's member of one network's pool.
type Pool struct {
	cfg  Config
	ml   *memberlist.Memberlist
	ring *memberlist.Keyring
	tr   *counting
	log  *slog.Logger
	held []uint32          // the generations of cfg.Keys, newest first
	keys map[uint32][]byte // by generation

	ev *events // counts memberlist's membership changes

	// mu guards primary and alone, which Round and Rejoin set, and the
	// watch, which Round keeps from one membership change to the next.
	mu      sync.Mutex
	primary uint32
	alone   int    // Rejoins in a row that found no member
	watchAt uint64 // ev's count the watch was chosen at (0: never)
	watch   []peer
}

// peer is a watched member.
type peer struct {
	name string
	addr *net.UDPAddr
}

// events counts memberlist's membership changes: a join, a death or a
// departure, an update. Memberlist calls it under its own lock.
type events struct{ n atomic.Uint64 }

func (e *events) NotifyJoin(*memberlist.Node)   { e.n.Add(1) }
func (e *events) NotifyLeave(*memberlist.Node)  { e.n.Add(1) }
func (e *events) NotifyUpdate(*memberlist.Node) { e.n.Add(1) }

// New binds the pool's address (UDP and TCP) and starts its member; it
// joins no one yet (Rejoin).
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("network", cfg.Network)
	p := &Pool{cfg: cfg, log: lg, keys: map[uint32][]byte{}, ev: &events{}}
	p.ev.n.Store(1)
	var all [][]byte
	for _, k := range cfg.Keys {
		p.held = append(p.held, k.ID)
		p.keys[k.ID] = k.Bytes()
		all = append(all, k.Bytes())
	}
	p.primary = Primary(p.held, nil)
	ring, err := memberlist.NewKeyring(all, p.keys[p.primary])
	if err != nil {
		return nil, fmt.Errorf("pool: keyring: %w", err)
	}
	p.ring = ring

	logger := log.New(newLogWriter(lg), "", 0)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{cfg.Bind.Addr().String()}, BindPort: int(cfg.Bind.Port()), Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w %s on %s (UDP and TCP): %v", ErrBind, cfg.Bind, cfg.Network, err)
	}
	var t memberlist.NodeAwareTransport = nt
	if cfg.Wrap != nil {
		t = cfg.Wrap(t)
	}
	p.tr = count(t)

	profile := cfg.Memberlist
	if profile == nil {
		profile = memberlist.DefaultLANConfig
	}
	mc := profile()
	mc.Name = cfg.Host
	mc.BindAddr, mc.BindPort = cfg.Bind.Addr().String(), int(cfg.Bind.Port())
	mc.AdvertiseAddr, mc.AdvertisePort = mc.BindAddr, mc.BindPort
	mc.Transport = p.tr
	mc.Keyring = ring
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = "vigil-pool " + cfg.Network
	mc.Delegate = delegate{meta: encodeMeta(p.held)}
	mc.Alive = aliveCheck{}
	mc.Events = p.ev
	mc.Logger, mc.LogOutput = logger, nil
	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = p.tr.Shutdown()
		return nil, fmt.Errorf("pool: %s: %w", cfg.Network, err)
	}
	p.ml = ml
	return p, nil
}

// Close leaves the pool (the others stop probing this member at once
// instead of suspecting it) and shuts it down.
func (p *Pool) Close() {
	if err := p.ml.Leave(LeaveTimeout); err != nil {
		p.log.Debug("pool leave failed", "err", err)
	}
	if err := p.ml.Shutdown(); err != nil {
		p.log.Debug("pool shutdown failed", "err", err)
	}
}

// Network is the pool's network.
func (p *Pool) Network() string { return p.cfg.Network }

// Round pings the peers this host watches, each through memberlist, and
// returns what it saw: reachable for a peer that answered within
// PingTimeout of the round's start, unreachable otherwise. When the
// membership changed since the last round it chooses the watch again, and
// the key generation to encrypt with from what the members hold (a round
// between changes costs the pings only: a pool of 10,000 members costs a
// millisecond or so per change).
func (p *Pool) Round() []decision.PeerReport {
	watch := p.watching()
	if len(watch) == 0 {
		return nil
	}
	// Each ping runs until memberlist's own probe timeout; the round takes
	// only answers within PingTimeout. A late ping's goroutine ends on its
	// own, and its answer goes into the buffer.
	answered := make(chan int, len(watch))
	for i, w := range watch {
		go func() {
			if _, err := p.ml.Ping(w.name, w.addr); err == nil {
				answered <- i
			} else {
				answered <- -1
			}
		}()
	}
	reach := make([]bool, len(watch))
	timer := time.NewTimer(p.cfg.PingTimeout)
	defer timer.Stop()
wait:
	for range watch {
		select {
		case i := <-answered:
			if i >= 0 {
				reach[i] = true
			}
		case <-timer.C:
			break wait
		}
	}
	out := make([]decision.PeerReport, len(watch))
	for i, w := range watch {
		out[i] = decision.PeerReport{Observer: p.cfg.Host, Host: w.name, Network: p.cfg.Network, Reachable: reach[i]}
	}
	return out
}

// watching is the watch, chosen again after a membership change.
func (p *Pool) watching() []peer {
	n := p.ev.n.Load()
	p.mu.Lock()
	if n == p.watchAt {
		defer p.mu.Unlock()
		return p.watch
	}
	p.mu.Unlock()
	members := p.ml.Members() // alive and suspect: the dead and the departed are not watched
	p.useKey(members)
	names := make([]string, 0, len(members))
	for _, m := range members {
		names = append(names, m.Name)
	}
	var watch []peer
	for _, t := range Watched(p.cfg.Host, names, p.cfg.Watch) {
		i := slices.IndexFunc(members, func(m *memberlist.Node) bool { return m.Name == t })
		watch = append(watch, peer{name: t, addr: &net.UDPAddr{IP: members[i].Addr, Port: int(members[i].Port)}})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watch, p.watchAt = watch, n // a change since n: chosen again next round
	return watch
}

// useKey encrypts with the newest generation every member holds.
func (p *Pool) useKey(members []*memberlist.Node) {
	var others [][]uint32
	for _, m := range members {
		if m.Name == p.cfg.Host {
			continue
		}
		if g, err := decodeMeta(m.Meta); err == nil { // aliveCheck let no other in
			others = append(others, g)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(others) == 0 {
		return // alone: Rejoin chooses
	}
	p.setPrimaryLocked(Primary(p.held, others))
}

func (p *Pool) setPrimaryLocked(g uint32) {
	if g == p.primary {
		return
	}
	if err := p.ring.UseKey(p.keys[g]); err != nil {
		p.log.Error("pool key not switched", "generation", g, "err", err)
		return
	}
	p.log.Info("pool encrypts with a new key generation", "generation", g, "was", p.primary)
	p.primary = g
}

// Rejoin joins through the configured members that are not among the live
// members (all of them while this member knows no other) and returns how
// many it reached. A member alone holding two generations tries the other
// one on its next Rejoin: the seeds may all have moved on to the newer
// generation, or still hold only the older.
func (p *Pool) Rejoin() (int, error) {
	live := map[netip.AddrPort]bool{}
	others := 0
	for _, m := range p.ml.Members() {
		if a, ok := netip.AddrFromSlice(m.Addr); ok {
			live[netip.AddrPortFrom(a.Unmap(), m.Port)] = true
		}
		if m.Name != p.cfg.Host {
			others++
		}
	}
	var seeds []string
	for _, j := range p.cfg.Join {
		if !live[j] && j != p.cfg.Bind {
			seeds = append(seeds, j.String())
		}
	}
	if len(seeds) == 0 {
		return 0, nil
	}
	n, err := p.ml.Join(seeds)
	p.mu.Lock()
	defer p.mu.Unlock()
	if others == 0 && n == 0 && len(p.held) == 2 {
		p.alone++
		p.setPrimaryLocked(p.held[p.alone%2])
	} else {
		p.alone = 0
	}
	return n, err
}

// Stats is what a pool counted since New.
type Stats struct {
	// Members: those alive or suspect in this member's view, itself among
	// them (memberlist does not say which are suspect: its Members gives
	// every one as alive).
	Members    int
	Generation uint32 // the pool key generation it encrypts with
	// Packets and bytes through its UDP socket, and the streams (TCP:
	// joins, push-pull state exchange, fallback probes) it opened.
	PacketsIn, PacketsOut, BytesIn, BytesOut, StreamsOut uint64
}

// Stats is what the pool counted so far.
func (p *Pool) Stats() Stats {
	var s Stats
	s.Members = p.ml.NumMembers()
	p.mu.Lock()
	s.Generation = p.primary
	p.mu.Unlock()
	t := p.tr
	s.PacketsIn, s.PacketsOut, s.BytesIn, s.BytesOut, s.StreamsOut = t.pktIn.Load(), t.pktOut.Load(), t.bytesIn.Load(), t.bytesOut.Load(), t.streams.Load()
	return s
}

// Members are the names of the members this one holds alive or suspect,
// itself among them, sorted.
func (p *Pool) Members() []string {
	var out []string
	for _, m := range p.ml.Members() {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

// delegate gives memberlist this member's metadata; the pool sends no
// messages of its own.
type delegate struct{ meta []byte }

func (d delegate) NodeMeta(int) []byte                  { return d.meta }
func (delegate) NotifyMsg([]byte)                       {}
func (delegate) GetBroadcasts(int, int) [][]byte        { return nil }
func (delegate) LocalState(bool) []byte                 { return nil }
func (delegate) MergeRemoteState(buf []byte, _ bool)    {}
func (aliveCheck) NotifyAlive(n *memberlist.Node) error { _, err := decodeMeta(n.Meta); return err }

// aliveCheck refuses a member whose metadata is not a vigil pool
// member's (memberlist drops its alive message).
type aliveCheck struct{}

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.AliveDelegate = aliveCheck{}
	_ memberlist.EventDelegate = (*events)(nil)
)
