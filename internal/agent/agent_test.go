package agent

import (
	"golang.org/x/sys/unix"

	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/heartbeat"
)

// The agent against the real controller loop and engine, on one virtual
// clock. Only the network is in memory (a test double: the wire and its
// transports are tested on their own), and the watchdog (no device here:
// see watchdog_test.go for the Linux one).

// store is the journal, in memory.
type store struct{ recs map[string]decision.Record }

func (s *store) Records() ([]decision.Record, uint64, error) {
	var out []decision.Record
	for _, r := range s.recs {
		out = append(out, r)
	}
	return out, 0, nil
}

func (s *store) Write(recs []decision.Record, _ []decision.Action) error {
	for _, r := range recs {
		s.recs[r.Host] = r
	}
	return nil
}

// testDog is a watchdog that remembers when it was fed.
type testDog struct {
	fed               []time.Duration
	now               *time.Duration
	disarmed, dropped bool
}

func (d *testDog) Keepalive() error                { d.fed = append(d.fed, *d.now); return nil }
func (d *testDog) Disarm() error                   { d.disarmed = true; return nil }
func (d *testDog) Abandon() error                  { d.dropped = true; return nil }
func (d *testDog) Timeout() (time.Duration, error) { return 30 * time.Second, nil }
func (d *testDog) SetTimeout(time.Duration) (time.Duration, error) {
	return 30 * time.Second, nil
}
func (d *testDog) Open() (Watchdog, error) { return d, nil }
func (d *testDog) Options() (uint32, error) {
	return unix.WDIOF_SETTIMEOUT | unix.WDIOF_MAGICCLOSE | unix.WDIOF_KEEPALIVEPING, nil
}

type staticSampler struct{}

func (staticSampler) Sample(context.Context) decision.SelfReport {
	return decision.SelfReport{NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}
}

// bed is one host's agent and the leader's loop.
type bed struct {
	t     *testing.T
	now   time.Duration // CLOCK_BOOTTIME of the host; the controllers' clock is epoch+now
	loop  *controller.Loop
	dog   *testDog
	a     *Agent
	cut   map[string]bool // networks on which nothing reaches the leader directly
	relay bool            // a peer relays reports and grants the direct path loses
	held  []decision.Grant
	acks  []decision.Ack
	resp  []Response
	dir   string
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newBed(t *testing.T) *bed {
	b := &bed{t: t, cut: map[string]bool{}, dir: t.TempDir()}
	cfg := decision.DefaultConfig()
	cfg.SelfFenceAfter, cfg.IsolationTimeout, cfg.WatchdogTimeout = 60*time.Second, 10*time.Second, 30*time.Second
	hosts := []decision.HostInfo{{Name: "cmp1"}, {Name: "cmp2"}, {Name: "cmp3"}}
	b.loop = controller.New(func() controller.Policy {
		e, err := decision.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, hosts, &store{recs: map[string]decision.Record{}})
	if _, err := b.loop.Lead(epoch, 1); err != nil {
		t.Fatal(err)
	}
	b.start("boot-1", nil)
	return b
}

// start runs a new agent process on boot, resuming saved.
func (b *bed) start(boot string, saved *Saved) {
	c, err := NewContract(boot, NewProcessID(), 10*time.Second, false, saved)
	if err != nil {
		b.t.Fatal(err)
	}
	b.dog = &testDog{now: &b.now}
	k, err := NewKeeper(c, b.dog, 30*time.Second, func() time.Duration { return b.now }, RespondStopVMs, func(r Response) error { b.resp = append(b.resp, r); return nil })
	if err != nil {
		b.t.Fatal(err)
	}
	b.a, err = New("cmp1", []string{"mgmt", "storage"}, c, k, staticSampler{}, b, b.dir, nil)
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bed) at() time.Time { return epoch.Add(b.now) }

func (b *bed) reaches(network string) bool { return !b.cut[network] || b.relay }

// Report is the Outbox: the report reaches the leader when its network is
// whole or a peer relays it; the grant comes back the same way.
func (b *bed) Report(_ context.Context, network string, r decision.AgentReport) error {
	if !b.reaches(network) {
		return nil
	}
	g, err := b.loop.Report(b.at(), r)
	if err == nil {
		b.held = append(b.held, g)
	}
	return nil
}

func (b *bed) Stopping(_ context.Context, network string, s decision.AgentStopping) error {
	if b.reaches(network) {
		return b.loop.Step(b.at(), s)
	}
	return nil
}

// run plays until the host's clock reads to: the agent steps every
// second, the other hosts report, the leader ticks, grants and acks are
// delivered.
func (b *bed) run(to time.Duration) {
	for b.now < to {
		b.now += time.Second
		b.a.Step(context.Background(), b.now)
		for _, h := range []string{"cmp2", "cmp3"} {
			for _, n := range []string{"mgmt", "storage"} {
				_ = b.loop.Step(b.at(), decision.AgentReport{Host: h, Network: n, Self: decision.SelfReport{BootID: h, NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
			}
		}
		rd, err := b.loop.Tick(b.at())
		if err != nil {
			b.t.Fatal(err)
		}
		b.acks = append(b.acks, rd.Acks...)
		for _, g := range b.held {
			b.a.Granted(b.now, g)
		}
		b.held = nil
		for _, ack := range b.acks {
			if _, err := b.a.Acked(ack); err != nil {
				b.t.Fatal(err)
			}
		}
		b.acks = nil
	}
}

// lastFed is when the watchdog was last fed.
func (b *bed) lastFed() time.Duration {
	if len(b.dog.fed) == 0 {
		return -1
	}
	return b.dog.fed[len(b.dog.fed)-1]
}

// Cut off from the leader on both networks, the agent keeps feeding its
// watchdog only for the isolation timeout counted from its last granted
// report, then runs its isolation response once; while a peer relays its
// reports and the leader's grants, it never does.
func TestAgentFeedsOnlyOnGrantsAndRespondsOncePastTheTimeout(t *testing.T) {
	b := newBed(t)
	b.run(20 * time.Second)
	if len(b.dog.fed) == 0 || b.lastFed() != 20*time.Second || len(b.resp) != 0 {
		t.Fatalf("connected: fed %v, responses %v; want fed every second, no response", b.dog.fed, b.resp)
	}

	// Both networks cut, but a peer relays: still granted, nothing fires.
	b.cut["mgmt"], b.cut["storage"], b.relay = true, true, true
	b.run(60 * time.Second)
	if b.lastFed() != 60*time.Second || len(b.resp) != 0 {
		t.Fatalf("relayed: last fed at %v, responses %v; want fed to the end, no response", b.lastFed(), b.resp)
	}

	// The relay goes too: the last report granted was sent at 60 s.
	b.relay = false
	b.run(69 * time.Second)
	if len(b.resp) != 0 {
		t.Fatalf("the isolation response ran at %v, before the 10 s isolation timeout", b.resp)
	}
	b.run(90 * time.Second)
	if got := b.lastFed(); got >= 70*time.Second {
		t.Errorf("last fed at %v, want before 70 s (the granted report of 60 s plus 10 s)", got)
	}
	if !slices.Equal(b.resp, []Response{RespondStopVMs}) {
		t.Errorf("responses = %v, want stop-vms once", b.resp)
	}
}

// A restarted agent on the same boot resumes from its predecessor's
// saved grant: it feeds no longer than that grant allowed, and starts
// feeding again only on a grant of its own.
func TestRestartedAgentResumesFromTheSavedGrant(t *testing.T) {
	b := newBed(t)
	b.run(20 * time.Second)
	saved, err := LoadState(b.dir, "boot-1")
	if err != nil || saved == nil {
		t.Fatalf("LoadState = %+v, %v; want the last grant", saved, err)
	}
	if saved.Expiry != 30*time.Second {
		t.Errorf("saved expiry = %v, want 30 s (the report of 20 s plus 10 s)", saved.Expiry)
	}
	// The process crashes (the watchdog runs on), the host is cut off,
	// and a new process starts at 25 s from the saved grant.
	b.cut["mgmt"], b.cut["storage"] = true, true
	b.now = 25 * time.Second
	b.start("boot-1", saved)
	b.run(40 * time.Second)
	if got := b.lastFed(); got < 25*time.Second || got >= 30*time.Second {
		t.Errorf("the successor last fed at %v, want between 25 s and the saved expiry of 30 s", got)
	}
	// Back on the network: its own grants feed it again.
	b.cut["mgmt"], b.cut["storage"] = false, false
	b.run(50 * time.Second)
	if b.lastFed() != 50*time.Second {
		t.Errorf("reconnected: last fed at %v, want 50 s", b.lastFed())
	}
}

// A clean stop disarms the watchdog only on the leader's ack, which comes
// only after the disarm was journaled; a stop the leader never hears is
// not an ack, and the watchdog stays armed.
func TestCleanStopDisarmsOnlyOnTheAck(t *testing.T) {
	b := newBed(t)
	b.run(10 * time.Second)
	b.cut["mgmt"], b.cut["storage"] = true, true
	b.a.Stop(context.Background())
	b.run(20 * time.Second)
	if b.dog.disarmed {
		t.Fatal("disarmed without an ack: the leader never heard the stop")
	}
	b.cut["mgmt"], b.cut["storage"] = false, false
	b.run(25 * time.Second)
	if !b.dog.disarmed {
		t.Fatal("not disarmed after the leader heard the notice and acknowledged it")
	}
	st := b.loop.Status()
	i := slices.IndexFunc(st, func(s decision.HostStatus) bool { return s.Name == "cmp1" })
	if i < 0 || strings.Contains(string(st[i].State), "fail") {
		t.Errorf("cmp1 status %+v after a clean stop", st)
	}
}

// A process that starts with no grant (a new boot, or a lost state file)
// is not fed until its first grant, but gives the leader one isolation
// timeout to answer before it destroys guests. Fails before the fix: the
// response ran at the first tick, before any report could be answered, so
// an agent restarted without its state file stopped every guest of a
// healthy host.
func TestNewAgentWaitsForAFirstGrantBeforeItResponds(t *testing.T) {
	b := newBed(t)
	b.cut["mgmt"], b.cut["storage"] = true, true
	b.run(10 * time.Second)
	if len(b.resp) != 0 || len(b.dog.fed) != 0 {
		t.Fatalf("cut off from the start: responses %v, fed %v within the first isolation timeout; want none, and no feed", b.resp, b.dog.fed)
	}
	b.run(12 * time.Second)
	if !slices.Equal(b.resp, []Response{RespondStopVMs}) || len(b.dog.fed) != 0 {
		t.Errorf("after the isolation timeout: responses %v, fed %v; want stop-vms once, never fed", b.resp, b.dog.fed)
	}
}

// The agent writes its storage heartbeat every Step, moving the counter
// the controllers compare, cut off from them or not.
func TestAgentWritesItsStorageHeartbeat(t *testing.T) {
	b := newBed(t)
	dir := heartbeat.Dir{Path: t.TempDir()}
	b.a.SetHeartbeat(heartbeat.NewWriter(dir, "cmp1", "boot-1"))
	b.run(5 * time.Second)
	b.cut["mgmt"], b.cut["storage"] = true, true
	b.run(8 * time.Second)
	got, ok, err := dir.Read(context.Background(), "cmp1")
	if err != nil || !ok || got.Seq != 8 || got.BootID != "boot-1" {
		t.Fatalf("heartbeat = %+v, %v, %v; want seq 8 of boot-1", got, ok, err)
	}
	if got.Granted != 3*time.Second {
		t.Errorf("granted %v ago, want 3s (the last grant came at 5 s)", got.Granted)
	}
}
