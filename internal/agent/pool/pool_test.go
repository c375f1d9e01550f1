package pool

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Four agents' pools on loopback: each watches the three others, and every
// one of them answers every round.
func TestPoolsReachEachOther(t *testing.T) {
	ks := newKeySet(t)
	ps := startN(t, 4, ks.keys(t, 1))
	watchers := map[string]int{}
	for _, p := range ps {
		reps := p.Round()
		if len(reps) != 3 {
			t.Fatalf("%s reported %+v, want its 3 peers", p.cfg.Host, reps)
		}
		for _, r := range reps {
			if r.Observer != p.cfg.Host || r.Network != "mgmt" || !r.Reachable || r.Host == p.cfg.Host {
				t.Errorf("%s: report %+v", p.cfg.Host, r)
			}
			watchers[r.Host]++
		}
	}
	for _, p := range ps {
		if watchers[p.cfg.Host] != 3 {
			t.Errorf("%s watched by %d, want 3", p.cfg.Host, watchers[p.cfg.Host])
		}
		if s := p.Stats(); s.PacketsIn == 0 || s.PacketsOut == 0 || s.Members != 4 || s.Generation != 1 {
			t.Errorf("%s stats %+v", p.cfg.Host, s)
		}
	}
}

// A member that stops answering (nothing in or out, as a stopped process)
// is unreachable in its watchers' very next round, which lasts no longer
// than PingTimeout; it is reachable again in the round after it resumes.
func TestHungMemberIsUnreachableInTheNextRound(t *testing.T) {
	ks := newKeySet(t)
	ps := startN(t, 2, ks.keys(t, 1))
	c, tapOf := withTap(testConfig(t, 3, ks.keys(t, 1), 1))
	hung := start(t, c)
	converge(t, append(ps, hung), 3)
	for _, p := range ps {
		if !reach(p)["cmp3"] {
			t.Fatalf("%s does not reach cmp3 before it hangs", p.cfg.Host)
		}
	}
	tapOf().frozen.Store(true)
	for _, p := range ps {
		start := time.Now()
		r := reach(p)
		took := time.Since(start)
		if r["cmp3"] || !r[otherThan(ps, p)] {
			t.Errorf("%s's round after cmp3 hung: %v; want cmp3 unreachable, the other reachable", p.cfg.Host, r)
		}
		if took > p.cfg.PingTimeout+100*time.Millisecond {
			t.Errorf("%s's round took %v, want about its ping timeout %v", p.cfg.Host, took, p.cfg.PingTimeout)
		}
	}
	tapOf().frozen.Store(false)
	eventually(t, 5*time.Second, func() error {
		for _, p := range ps {
			if !reach(p)["cmp3"] {
				return fmt.Errorf("%s does not reach cmp3 again", p.cfg.Host)
			}
		}
		return nil
	})
}

func otherThan(ps []*Pool, p *Pool) string {
	for _, q := range ps {
		if q != p {
			return q.cfg.Host
		}
	}
	return ""
}

// Without the key nothing counts: cmp2's own packets recorded while it
// lived and replayed to cmp1 after it died, an impostor without the key at
// cmp2's address under its name, and one with another cluster's key there
// too. cmp1 receives all of it, and reports cmp2 unreachable in every
// round; none of them becomes a member.
func TestPacketsWithoutTheKeyAreIgnored(t *testing.T) {
	ks := newKeySet(t)
	c, tapOf := withTap(testConfig(t, 1, ks.keys(t, 1)))
	obs := start(t, c)
	tapOf().record(addr(t, 2))
	victim := start(t, testConfig(t, 2, ks.keys(t, 1), 1))
	third := start(t, testConfig(t, 3, ks.keys(t, 1), 1))
	converge(t, []*Pool{obs, victim, third}, 3)
	for range 5 { // cmp2 answers pings: its acks are recorded
		if !reach(obs)["cmp2"] {
			t.Fatal("cmp1 does not reach cmp2 while it lives")
		}
	}
	recorded := tapOf().recording()
	if len(recorded) < 5 {
		t.Fatalf("recorded %d packets of cmp2, want its acks at least", len(recorded))
	}
	_ = victim.ml.Shutdown() // dies: no farewell, its port is free

	check := func(what string) {
		t.Helper()
		before := obs.Stats().PacketsIn
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // replay everything cmp2 ever sent, over and over
			defer close(done)
			for {
				for _, b := range recorded {
					select {
					case <-stop:
						return
					default:
					}
					tapOf().inject(b, addr(t, 2))
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		for range 5 {
			if r := reach(obs); r["cmp2"] {
				t.Errorf("%s: cmp1 reports the dead cmp2 reachable", what)
			}
		}
		close(stop)
		<-done
		if got := obs.Stats().PacketsIn - before; got < uint64(len(recorded)) {
			t.Errorf("%s: cmp1 received %d packets, want the replays at least", what, got)
		}
	}
	check("replays")

	// An impostor without the key, then one with another cluster's key,
	// at cmp2's address under its name: cmp1's pings reach it, and it
	// cannot read them, nor answer, nor join.
	for _, tc := range []struct {
		name string
		keys func(*memberlist.Config)
	}{
		{"no key", func(*memberlist.Config) {}},
		{"another key", func(mc *memberlist.Config) {
			kr, err := memberlist.NewKeyring(nil, newKeySet(t).keys(t, 1)[0].Bytes())
			if err != nil {
				t.Fatal(err)
			}
			mc.Keyring = kr
		}},
	} {
		mc := fast()
		mc.Name, mc.BindAddr, mc.BindPort = "cmp2", addr(t, 2).Addr().String(), port
		mc.AdvertiseAddr, mc.AdvertisePort = mc.BindAddr, port
		mc.Label = "vigil-pool mgmt"
		mc.Delegate = delegate{meta: encodeMeta([]uint32{1})}
		mc.LogOutput = discard{}
		tc.keys(mc)
		imp, err := memberlist.Create(mc)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := imp.Join([]string{addr(t, 1).String()}); err == nil || n != 0 {
			t.Errorf("%s: the impostor joined %d (%v)", tc.name, n, err)
		}
		check("an impostor with " + tc.name)
		_ = imp.Shutdown()
		if reach(obs)["cmp2"] {
			t.Errorf("%s: cmp2 reachable in cmp1's pool", tc.name)
		}
	}
	if r := reach(third); r["cmp2"] {
		t.Error("cmp3 reports the dead cmp2 reachable")
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// holds reports whether name is alive or suspect in p's view.
func (p *Pool) holds(name string) bool { return slices.Contains(p.Members(), name) }

// A pool of one network never mixes with another's, even under one key:
// the network is the label every packet and stream is authenticated with.
func TestNetworksDoNotMix(t *testing.T) {
	ks := newKeySet(t)
	a := start(t, testConfig(t, 1, ks.keys(t, 1)))
	c := testConfig(t, 2, ks.keys(t, 1), 1)
	c.Network = "storage"
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.ml.Shutdown() }()
	if n, err := p.Rejoin(); err == nil || n != 0 {
		t.Fatalf("a storage pool joined the mgmt pool: %d, %v", n, err)
	}
	if m := a.Members(); len(m) != 1 {
		t.Fatalf("mgmt pool members %v", m)
	}
}

// An address the pool cannot bind is ErrBind naming it.
func TestBindErrors(t *testing.T) {
	ks := newKeySet(t)
	taken := start(t, testConfig(t, 1, ks.keys(t, 1)))
	_ = taken
	for _, tc := range []struct {
		name string
		bind netip.AddrPort
	}{
		{"in use", addr(t, 1)},
		{"not this host's", netip.MustParseAddrPort("192.0.2.1:7402")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, 2, ks.keys(t, 1))
			c.Bind = tc.bind
			p, err := New(c)
			if err == nil {
				_ = p.ml.Shutdown()
				t.Fatal("bound")
			}
			if !errors.Is(err, ErrBind) || !strings.Contains(err.Error(), tc.bind.String()) {
				t.Fatalf("err = %v; want ErrBind naming %s", err, tc.bind)
			}
		})
	}
	l, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr(t, 3)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := New(testConfig(t, 3, ks.keys(t, 1))); !errors.Is(err, ErrBind) {
		t.Fatalf("UDP port taken: err = %v, want ErrBind", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ks := newKeySet(t)
	good := testConfig(t, 1, ks.keys(t, 1))
	for _, tc := range []struct {
		name string
		f    func(*Config)
		want string
	}{
		{"no keys", func(c *Config) { c.Keys = nil }, "0 pool keys"},
		{"watch 0", func(c *Config) { c.Watch = 0 }, "watch 0"},
		{"watch too many", func(c *Config) { c.Watch = MaxWatch + 1 }, "give 1 to 16"},
		{"unspecified bind", func(c *Config) { c.Bind = netip.MustParseAddrPort("0.0.0.0:7402") }, "own address"},
		{"no ping timeout", func(c *Config) { c.PingTimeout = 0 }, "ping timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.f(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}
