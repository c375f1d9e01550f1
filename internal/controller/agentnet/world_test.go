package agentnet_test

import (
	"golang.org/x/sys/unix"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/agent/uplink"
	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/testbed/ctlbed"
	"github.com/vigil-ha/vigil/internal/wire"
)

// The two transports on loopback, between real agents (agent.Agent with
// its Contract and Keeper; a test watchdog) and a real controller
// (controller.Loop and the decision engine behind a Runner; the journal in
// memory). Every member's monotonic clock is one test clock that moves only
// when a test moves it; the Runner's engine runs on real time. Addresses are
// 127.R.n.x, R drawn per test, n the network (1 mgmt, 2 storage).

var networks = []string{"mgmt", "storage"}

// waitFor bounds every wait: a failure bound, never a timing.
const waitFor = 20 * time.Second

type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type world struct {
	t       *testing.T
	r       byte // the second octet of every address
	clk     *testClock
	secrets []wire.Secret
	keys    *wire.ClusterKeys
	store   *ctlbed.MemStore
	term    uint64
	cfg     agentnet.Config

	srv     *agentnet.Server
	runner  *controller.Runner
	stopCtl func()
	hosts   map[string]*host
}

var hostNames = []string{"cmp1", "cmp2", "cmp3"}

func newWorld(t *testing.T) *world {
	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := wire.NewClusterKeys([]wire.Secret{s}, hostNames)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, r: byte(10 + rand.IntN(240)), clk: &testClock{}, secrets: []wire.Secret{s}, keys: keys,
		store: ctlbed.NewMemStore(), hosts: map[string]*host{}}
	w.clk.advance(time.Hour) // the clocks have run a while
	w.cfg = agentnet.DefaultConfig()
	w.cfg.Clock = w.clk.now
	for i, n := range networks {
		w.cfg.Networks = append(w.cfg.Networks, agentnet.Network{Name: n, Listen: w.addr(i, 100, 7700)})
	}
	t.Cleanup(func() {
		for _, h := range w.hosts {
			h.stop()
		}
		if w.stopCtl != nil {
			w.stopCtl()
		}
	})
	return w
}

// addr is 127.R.(network+1).x:port.
func (w *world) addr(network, x, port int) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, w.r, byte(network + 1), byte(x)}), uint16(port)).String()
}

// startController starts a new controller process on the controllers'
// addresses: a new gate, a new term, the same journal. It returns once the
// member leads.
func (w *world) startController() {
	w.t.Helper()
	srv, err := agentnet.Listen(w.cfg, w.keys)
	if err != nil {
		w.t.Fatal(err)
	}
	w.term++
	loop := controller.New(func() controller.Policy {
		cfg := decision.DefaultConfig()
		cfg.SelfFenceAfter, cfg.IsolationTimeout, cfg.WatchdogTimeout = 60*time.Second, 10*time.Second, 30*time.Second
		e, err := decision.New(cfg)
		if err != nil {
			panic(err)
		}
		return e
	}, []decision.HostInfo{{Name: "cmp1"}, {Name: "cmp2"}, {Name: "cmp3"}}, w.store)
	r := controller.NewRunner(fmt.Sprintf("ctl-%d", w.term), loop, ctlbed.SoleLead{Token: w.term}, ctlbed.NoExec{}, srv.Ack, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx, r) }()
	w.srv, w.runner = srv, r
	w.stopCtl = func() { cancel(); wg.Wait() }
	eventually(w.t, "the controller leads", func() error {
		if !r.Leading() {
			return errors.New("not leading")
		}
		return nil
	})
}

// restartController stops the controller process and starts another.
func (w *world) restartController() {
	w.stopCtl()
	w.startController()
}

// host is one host's agent process and its uplink.
type host struct {
	w     *world
	name  string
	a     *agent.Agent
	c     *agent.Contract
	dog   *testDog
	up    *uplink.Uplink
	in    chan agent.Inbound
	links []*link // when its controllers are behind links that can be cut
	acks  []decision.Ack
	stop  func()
}

// testDog is a watchdog that remembers when it was fed.
type testDog struct {
	clk      *testClock
	fed      []time.Duration
	disarmed bool
}

func (d *testDog) Keepalive() error                { d.fed = append(d.fed, d.clk.now()); return nil }
func (d *testDog) Disarm() error                   { d.disarmed = true; return nil }
func (d *testDog) Abandon() error                  { return nil }
func (d *testDog) Timeout() (time.Duration, error) { return 30 * time.Second, nil }
func (d *testDog) SetTimeout(time.Duration) (time.Duration, error) {
	return 30 * time.Second, nil
}
func (d *testDog) Open() (agent.Watchdog, error) { return d, nil }
func (d *testDog) Options() (uint32, error) {
	return unix.WDIOF_SETTIMEOUT | unix.WDIOF_MAGICCLOSE | unix.WDIOF_KEEPALIVEPING, nil
}

type staticSampler struct{}

func (staticSampler) Sample(context.Context) decision.SelfReport {
	return decision.SelfReport{NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}
}

// addHost starts host i's agent (cmp<i>, addresses .i), with every other
// host as its peers; cuttable puts its controllers behind links.
func (w *world) addHost(i int, cuttable bool) *host {
	w.t.Helper()
	name := fmt.Sprintf("cmp%d", i)
	hk, err := wire.HostKeysFrom(w.secrets, name)
	if err != nil {
		w.t.Fatal(err)
	}
	h := &host{w: w, name: name, in: make(chan agent.Inbound, 64)}
	cfg := uplink.DefaultConfig()
	cfg.Keys, cfg.Clock = hk, w.clk.now
	for n, net := range networks {
		ctl := w.addr(n, 100, 7700)
		if cuttable {
			l := newLink(w.t, w.addr(n, 200+i, 7700), ctl, w.addr(n, 210+i, 0))
			h.links = append(h.links, l)
			ctl = w.addr(n, 200+i, 7700)
		}
		nc := uplink.Network{Name: net, Listen: w.addr(n, i, 7701), Controllers: []string{ctl}}
		for j := 1; j <= len(hostNames); j++ {
			if j != i {
				nc.Peers = append(nc.Peers, uplink.Peer{Host: fmt.Sprintf("cmp%d", j), Addr: w.addr(n, j, 7701)})
			}
		}
		cfg.Networks = append(cfg.Networks, nc)
	}
	if h.up, err = uplink.New(cfg); err != nil {
		w.t.Fatal(err)
	}
	if h.c, err = agent.NewContract("boot-"+name, agent.NewProcessID(), 10*time.Second, false, nil); err != nil {
		w.t.Fatal(err)
	}
	h.dog = &testDog{clk: w.clk}
	k, err := agent.NewKeeper(h.c, h.dog, 30*time.Second, w.clk.now, agent.RespondNone, func(agent.Response) error { return nil })
	if err != nil {
		w.t.Fatal(err)
	}
	if h.a, err = agent.New(name, networks, h.c, k, staticSampler{}, h.up, "", nil); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.up.Run(ctx, h.in) }()
	h.stop = func() {
		cancel()
		<-done
		for _, l := range h.links {
			l.close()
		}
	}
	w.hosts[name] = h
	return h
}

// step is one round of the agent at the test clock's now.
func (h *host) step() { h.a.Step(context.Background(), h.w.clk.now()) }

// grants waits for n grants, handing each to the agent as it arrives (and
// keeping any ack); it fails the test past the bound.
func (h *host) grants(n int) []decision.Grant {
	h.w.t.Helper()
	var got []decision.Grant
	bound := time.After(waitFor)
	for len(got) < n {
		select {
		case m := <-h.in:
			if m.Grant != nil {
				h.a.Granted(h.w.clk.now(), *m.Grant)
				got = append(got, *m.Grant)
			}
			if m.Ack != nil {
				h.acks = append(h.acks, *m.Ack)
				if _, err := h.a.Acked(*m.Ack); err != nil {
					h.w.t.Fatal(err)
				}
			}
		case <-bound:
			h.w.t.Fatalf("%s: %d of %d grants within %v; uplink %+v, controller %+v", h.name, len(got), n, waitFor, h.up.Stats(), h.w.srv.Stats())
		}
	}
	return got
}

// round steps every host given and waits for a grant on each network.
func (w *world) round(hs ...*host) {
	w.t.Helper()
	for _, h := range hs {
		h.step()
	}
	for _, h := range hs {
		h.grants(len(networks))
	}
}

// fedNow reports whether h's watchdog was fed at the test clock's now.
func (h *host) fedNow() bool {
	return len(h.dog.fed) > 0 && h.dog.fed[len(h.dog.fed)-1] == h.w.clk.now()
}

// link is a path between a host and the controllers that a test can cut:
// what reaches near goes on to far from a socket of its own, and what comes
// back is handed to whoever last sent to near.
type link struct {
	near, far *net.UDPConn
	cut       atomic.Bool
	peer      atomic.Pointer[netip.AddrPort]
	done      sync.WaitGroup
}

func newLink(t *testing.T, nearAddr, farAddr, fromAddr string) *link {
	t.Helper()
	near, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(nearAddr)))
	if err != nil {
		t.Fatal(err)
	}
	far, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(fromAddr)))
	if err != nil {
		t.Fatal(err)
	}
	l := &link{near: near, far: far}
	dst := netip.MustParseAddrPort(farAddr)
	l.done.Add(2)
	go func() {
		defer l.done.Done()
		buf := make([]byte, 65536)
		for {
			n, src, err := near.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			l.peer.Store(&src)
			if !l.cut.Load() {
				_, _ = far.WriteToUDPAddrPort(buf[:n], dst)
			}
		}
	}()
	go func() {
		defer l.done.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := far.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if p := l.peer.Load(); p != nil && !l.cut.Load() {
				_, _ = near.WriteToUDPAddrPort(buf[:n], *p)
			}
		}
	}()
	return l
}

func (l *link) close() { _ = l.near.Close(); _ = l.far.Close(); l.done.Wait() }

// eventually polls check until it holds; the bound is a failure bound.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	ctlbed.Eventually(t, waitFor, what, check)
}

// raw is a socket of the test's own, speaking the wire as host with its
// key: what an attacker that recorded or forges that host's packets, or
// the host itself, could send.
type raw struct {
	t    *testing.T
	conn *net.UDPConn
	keys wire.HostKeys
}

func (w *world) raw(addr, as string) *raw {
	w.t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = conn.Close() })
	hk, err := wire.HostKeysFrom(w.secrets, as)
	if err != nil {
		w.t.Fatal(err)
	}
	return &raw{t: w.t, conn: conn, keys: hk}
}

func (r *raw) seal(m wire.Message) []byte {
	b, err := wire.Seal(r.keys.Newest(), r.keys.Host(), m)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *raw) send(b []byte, to netip.AddrPort) {
	if _, err := r.conn.WriteToUDPAddrPort(b, to); err != nil {
		r.t.Fatal(err)
	}
}

// next is the next packet that reaches r, opened; a failure past the bound.
func (r *raw) next() wire.Message {
	r.t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 65536)
	n, _, err := r.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		r.t.Fatalf("no answer within %v: %v", waitFor, err)
	}
	p, err := wire.OpenDown(r.keys, buf[:n])
	if err != nil {
		r.t.Fatal(err)
	}
	return p.Msg
}

func report(network, agentID string, seq uint64, echo wire.Challenge) wire.Report {
	return wire.Report{Network: network, Echo: echo, Self: decision.SelfReport{BootID: "boot-x", Agent: agentID, Seq: seq,
		NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}}
}
