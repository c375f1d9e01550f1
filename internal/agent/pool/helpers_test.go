package pool

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/vigil-ha/vigil/internal/wire"
)

// port is every test pool's port; each test has loopback addresses of its
// own (127.77.N.i, N from the test's name).
const port = 7402

func addr(t testing.TB, i int) netip.AddrPort {
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 77, byte(1 + h.Sum32()%250), byte(i)}), port)
}

// poolKeys is generation gens of one cluster secret set's pool keys, the
// same for every call in a test.
type keySet struct{ secrets map[uint32]wire.Secret }

func newKeySet(t testing.TB) *keySet {
	ks := &keySet{secrets: map[uint32]wire.Secret{}}
	for _, id := range []uint32{1, 2, 3} {
		s, err := wire.NewSecret(id)
		if err != nil {
			t.Fatal(err)
		}
		ks.secrets[id] = s
	}
	return ks
}

// keys is the pool keys of generations gens, newest first, as a host's
// file holds them.
func (ks *keySet) keys(t testing.TB, gens ...uint32) []wire.PoolKey {
	var s []wire.Secret
	for _, g := range gens {
		s = append(s, ks.secrets[g])
	}
	hk, err := wire.HostKeysFrom(s, "any")
	if err != nil {
		t.Fatal(err)
	}
	return hk.PoolKeys()
}

// fast is the tests' memberlist profile: memberlist's local one, with
// the LAN profile's retransmissions (the local one's 2 leave a join's news
// unheard by one of four members about one time in ten, until the next
// push-pull) and push-pull every second.
func fast() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.RetransmitMult = 4
	c.PushPullInterval = time.Second
	return c
}

func testConfig(t testing.TB, i int, keys []wire.PoolKey, join ...int) Config {
	c := DefaultConfig()
	c.Network, c.Host, c.Bind, c.Keys = "mgmt", fmt.Sprintf("cmp%d", i), addr(t, i), keys
	for _, j := range join {
		c.Join = append(c.Join, addr(t, j))
	}
	c.Memberlist = fast
	c.Log = testLog(t)
	return c
}

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("VIGIL_POOL_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return nil
}

func start(t testing.TB, c Config) *Pool {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.ml.Shutdown() })
	_, _ = p.Rejoin() // some seeds may not run yet: converge waits

	return p
}

// startN starts pools cmp1..cmpN, each joining through cmp1.
func startN(t testing.TB, n int, keys []wire.PoolKey) []*Pool {
	var ps []*Pool
	for i := 1; i <= n; i++ {
		var join []int
		if i > 1 {
			join = []int{1}
		}
		ps = append(ps, start(t, testConfig(t, i, keys, join...)))
	}
	converge(t, ps, n)
	return ps
}

// converge waits until every pool holds n members.
func converge(t testing.TB, ps []*Pool, n int) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		for _, p := range ps {
			if m := p.Members(); len(m) != n {
				return fmt.Errorf("%s holds %v, want %d members", p.cfg.Host, m, n)
			}
		}
		return nil
	})
}

// eventually polls f until it returns nil, failing t after within.
func eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reach is one round of p: whether each watched peer answered.
func reach(p *Pool) map[string]bool {
	out := map[string]bool{}
	for _, r := range p.Round() {
		out[r.Host] = r.Reachable
	}
	return out
}

// tap is a transport that can freeze its member (nothing in, nothing
// out: a stopped process), record what arrives from an address and
// inject packets as if they had arrived.
type tap struct {
	memberlist.NodeAwareTransport
	frozen atomic.Bool
	in     chan *memberlist.Packet
	done   chan struct{}
	once   sync.Once

	// mu guards the recording.
	mu       sync.Mutex
	from     string
	recorded [][]byte
}

func newTap(t memberlist.NodeAwareTransport) *tap {
	tp := &tap{NodeAwareTransport: t, in: make(chan *memberlist.Packet, 64), done: make(chan struct{})}
	go func() {
		for {
			select {
			case p := <-t.PacketCh():
				if tp.frozen.Load() {
					continue
				}
				tp.mu.Lock()
				if p.From.String() == tp.from {
					tp.recorded = append(tp.recorded, append([]byte(nil), p.Buf...))
				}
				tp.mu.Unlock()
				select {
				case tp.in <- p:
				case <-tp.done:
					return
				}
			case <-tp.done:
				return
			}
		}
	}()
	return tp
}

func (tp *tap) PacketCh() <-chan *memberlist.Packet { return tp.in }

func (tp *tap) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if tp.frozen.Load() {
		return time.Now(), nil
	}
	return tp.NodeAwareTransport.WriteToAddress(b, a)
}

func (tp *tap) WriteTo(b []byte, a string) (time.Time, error) {
	if tp.frozen.Load() {
		return time.Now(), nil
	}
	return tp.NodeAwareTransport.WriteTo(b, a)
}

func (tp *tap) Shutdown() error {
	tp.once.Do(func() { close(tp.done) })
	return tp.NodeAwareTransport.Shutdown()
}

func (tp *tap) record(from netip.AddrPort) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.from = from.String()
}

func (tp *tap) recording() [][]byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([][]byte(nil), tp.recorded...)
}

// inject hands b to the member as if it had come from from.
func (tp *tap) inject(b []byte, from netip.AddrPort) {
	select {
	case tp.in <- &memberlist.Packet{Buf: append([]byte(nil), b...), From: udpAddr(from), Timestamp: time.Now()}:
	case <-tp.done:
	}
}

func withTap(c Config) (Config, func() *tap) {
	var tp *tap
	c.Wrap = func(t memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		tp = newTap(t)
		return tp
	}
	return c, func() *tap { return tp }
}

func keyFile(t testing.TB, ks *keySet, gens ...uint32) string {
	var s []wire.Secret
	for _, g := range gens {
		s = append(s, ks.secrets[g])
	}
	b, err := wire.FormatHostKeys(s, "helper")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "helper.key")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func udpAddr(a netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(a) }
