// Package swarm stands in for the agents of a large cloud: thousands of
// hosts, each reporting on every network once an interval through the real
// agent transport (internal/agent/uplink: its sockets, sealing, challenges
// and Retry handling), so a controller process can be measured at the scale
// of a real deployment on one machine.
//
// It is a named stand-in for the agents' samplers only: what a host says of
// itself (boot, services, guests) is made up, while every packet is the one
// a real agent would send. Each host binds its own loopback address
// (127.1.x.y), so the controller sees as many sources as hosts.
package swarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/agent/uplink"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/heartbeat"
	"github.com/vigil-ha/vigil/internal/wire"
)

// Config configures a swarm: hosts From … To-1 of a cloud of Hosts.
type Config struct {
	Hosts    int      // the cloud's hosts: cmp1 … cmpN
	From, To int      // the ones this swarm runs (0, 0: all)
	Networks []string // names, in order
	// Port is the agents' port on each network; host i listens on
	// Addr(i):Port[n].
	Port map[string]uint16
	// Controllers are the controllers' addresses on each network.
	Controllers map[string][]string
	SecretsFile string        // the cluster's secrets (wire.LoadSecrets)
	Interval    time.Duration // a report per network and a peer report per network each interval
	Guests      int           // running guests each host reports
	// HeartbeatDir, if set, receives each host's storage heartbeat every
	// interval (heartbeat.Dir), as the agents write theirs.
	HeartbeatDir string
}

// Name is host i's name (i from 0).
func Name(i int) string { return fmt.Sprintf("cmp%d", i+1) }

// Addr is host i's loopback address: 127.1.0.1 … 127.1.39.250 for 10,000
// hosts (every 127/8 address is the loopback interface's on Linux).
func Addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}) }

// Swarm is a running swarm.
type Swarm struct {
	cfg   Config
	hosts []*host

	wg     sync.WaitGroup
	cancel context.CancelFunc

	mu     sync.Mutex
	lat    Histogram // report → grant, since the last Window
	tokens map[uint64]*term
}

type host struct {
	name   string
	up     *uplink.Uplink
	beat   *heartbeat.Writer
	self   decision.SelfReport
	peer   string // the host it reports probing
	mu     sync.Mutex
	seq    uint64
	sent   []sent // the last report on each network
	ticket decision.Ticket
	token  uint64 // the newest term that granted it
}

type sent struct {
	seq uint64
	at  time.Time
}

type term struct {
	first time.Time
	hosts int
}

// Start binds every host's sockets and starts reporting, spreading the
// hosts evenly over the interval as agents that started at different times
// do. It returns once every socket is bound.
func Start(ctx context.Context, cfg Config) (*Swarm, error) {
	if cfg.Hosts <= 0 || len(cfg.Networks) == 0 || cfg.Interval <= 0 {
		return nil, errors.New("swarm: hosts, networks and interval are required")
	}
	if cfg.To == 0 {
		cfg.From, cfg.To = 0, cfg.Hosts
	}
	secrets, err := wire.LoadSecrets(cfg.SecretsFile)
	if err != nil {
		return nil, err
	}
	s := &Swarm{cfg: cfg, tokens: map[uint64]*term{}}
	guests := make([]string, cfg.Guests)
	for i := cfg.From; i < cfg.To; i++ {
		name := Name(i)
		ucfg := uplink.DefaultConfig()
		keys, err := wire.HostKeysFrom(secrets, name)
		if err != nil {
			s.Close()
			return nil, err
		}
		ucfg.Keys = keys
		for _, n := range cfg.Networks {
			ucfg.Networks = append(ucfg.Networks, uplink.Network{Name: n,
				Listen:      netip.AddrPortFrom(Addr(i), cfg.Port[n]).String(),
				Controllers: cfg.Controllers[n]})
		}
		up, err := uplink.New(ucfg)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("swarm: host %s: %w", name, err)
		}
		for g := range guests {
			guests[g] = uuid()
		}
		h := &host{name: name, up: up, peer: Name((i + 1) % cfg.Hosts), sent: make([]sent, len(cfg.Networks)),
			self: decision.SelfReport{BootID: uuid(), Agent: uuid(),
				NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true},
				Domains: slices.Clone(guests)}}
		if cfg.HeartbeatDir != "" {
			h.beat = heartbeat.NewWriter(heartbeat.Dir{Path: cfg.HeartbeatDir}, name, h.self.BootID)
		}
		s.hosts = append(s.hosts, h)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	in := make(chan agent.Inbound, 4096)
	for _, h := range s.hosts {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = h.up.Run(ctx, in) }()
	}
	for range 2 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.receive(ctx, in) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.send(ctx) }()
	return s, nil
}

// send reports for each host at its place in every interval: the hosts
// due by the clock, not by ticks (a tick missed while the workers were busy
// would be a report never sent), by a few workers so a shard's sealing and
// sending use more than one core.
func (s *Swarm) send(ctx context.Context) {
	work := make(chan *host, len(s.hosts))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(work)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				s.report(ctx, h)
			}
		}()
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	start, n := time.Now(), int64(len(s.hosts))
	var next int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due := int64(time.Since(start)) * n / int64(s.cfg.Interval)
		for ; next < due; next++ {
			select {
			case work <- s.hosts[next%n]:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (s *Swarm) report(ctx context.Context, h *host) {
	now := time.Now()
	for j, n := range s.cfg.Networks {
		h.mu.Lock()
		h.seq++
		self := h.self
		self.Seq, self.Ticket = h.seq, h.ticket
		h.sent[j] = sent{seq: h.seq, at: now}
		h.mu.Unlock()
		_ = h.up.Report(ctx, n, decision.AgentReport{Host: h.name, Network: n, Self: self})
		_ = h.up.Peers(ctx, n, []decision.PeerReport{{Observer: h.name, Host: h.peer, Network: n, Reachable: true}})
	}
	if h.beat != nil {
		_ = h.beat.Beat(ctx, len(h.self.Domains), 0, now)
	}
}

// receive takes the grants.
func (s *Swarm) receive(ctx context.Context, in <-chan agent.Inbound) {
	byName := map[string]*host{}
	for _, h := range s.hosts {
		byName[h.name] = h
	}
	for {
		var m agent.Inbound
		select {
		case <-ctx.Done():
			return
		case m = <-in:
		}
		if m.Grant == nil {
			continue
		}
		now := time.Now()
		g := m.Grant
		h := byName[g.Host]
		if h == nil {
			continue
		}
		var lat time.Duration
		h.mu.Lock()
		for _, x := range h.sent {
			if x.seq == g.Seq {
				lat = now.Sub(x.at)
			}
		}
		if !g.Ticket.IsZero() {
			h.ticket = g.Ticket
		}
		newTerm := g.Token > h.token
		if newTerm {
			h.token = g.Token
		}
		h.mu.Unlock()
		s.mu.Lock()
		if lat > 0 {
			s.lat.Add(lat)
		}
		if newTerm {
			t := s.tokens[g.Token]
			if t == nil {
				t = &term{first: now}
				s.tokens[g.Token] = t
			}
			t.hosts++
		}
		s.mu.Unlock()
	}
}

// Window returns the report-to-grant latencies since the last call.
func (s *Swarm) Window() Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.lat
	s.lat = Histogram{}
	return h
}

// Term is what a swarm saw of one leader's term (its fencing token).
type Term struct {
	First time.Time `json:"first"` // its first grant
	Hosts int       `json:"hosts"` // hosts it granted, each in a term newer than any before
}

// Terms is what the swarm saw of every term, by fencing token.
func (s *Swarm) Terms() map[uint64]Term {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[uint64]Term{}
	for k, t := range s.tokens {
		m[k] = Term{First: t.first, Hosts: t.hosts}
	}
	return m
}

// Close stops reporting and closes every socket.
func (s *Swarm) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	for _, h := range s.hosts {
		h.up.Close()
	}
	s.wg.Wait()
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
