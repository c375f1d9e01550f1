package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// The world's rules are what every scenario's verdict rests on; these tests
// pin the ones FIELD-NOTES describes.

func newTestWorld(t *testing.T) *World {
	t.Helper()
	w, err := NewWorld(Config{Hosts: 3, Instances: 3, ReportInterval: 10 * time.Second, ServiceDown: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *World) runFor(d time.Duration) {
	for end := w.now + d; w.now < end; {
		w.advance()
	}
}

func TestNovaRefusesEvacuateWhileTheServiceLooksUp(t *testing.T) {
	w := newTestWorld(t)
	w.runFor(20 * time.Second)
	if _, err := w.Nova.Evacuate("vm01", ""); !errors.Is(err, ErrServiceUp) {
		t.Fatalf("evacuate from an up service = %v, want ErrServiceUp", err)
	}
	// Force-down makes Nova accept at once, guests still running or not:
	// Nova never looks at the guests.
	if err := w.Nova.ForceDown("cmp1", true); err != nil {
		t.Fatal(err)
	}
	dest, err := w.Nova.Evacuate("vm01", "")
	if err != nil || dest == "cmp1" || dest == "" {
		t.Fatalf("evacuate after force-down = %q, %v", dest, err)
	}
	if !w.Host("cmp1").Domains["vm01"] {
		t.Fatal("the source guest stopped by itself; it must keep running until its host is fenced")
	}
}

func TestServiceLooksDownAfterServiceDownTime(t *testing.T) {
	w := newTestWorld(t)
	w.runFor(20 * time.Second)
	w.StopProc(w.Host("cmp2"), NovaCompute)
	w.runFor(50 * time.Second)
	if !w.Nova.Up("cmp2") {
		t.Fatal("down before service_down_time passed")
	}
	w.runFor(20 * time.Second)
	if w.Nova.Up("cmp2") {
		t.Fatal("still up after service_down_time without a heartbeat")
	}
}

func TestTwoHostsWritingOneDiskIsADoubleWriter(t *testing.T) {
	w := newTestWorld(t)
	w.runFor(5 * time.Second)
	_ = w.Nova.ForceDown("cmp1", true)
	if _, err := w.Nova.Evacuate("vm01", "cmp2"); err != nil {
		t.Fatal(err)
	}
	w.runFor(5 * time.Second)
	if got := w.DoubleWriters(); len(got) != 1 || got[0] != "vm01" {
		t.Fatalf("double writers = %v, want [vm01]", got)
	}
}

func TestPowerOffOrBlocklistStopsWrites(t *testing.T) {
	for _, fence := range []string{"power", "blocklist"} {
		t.Run(fence, func(t *testing.T) {
			w := newTestWorld(t)
			w.runFor(5 * time.Second)
			h := w.Host("cmp1")
			if fence == "power" {
				w.PowerOff(h, "test")
			} else {
				w.BlocklistAdd(h, DefaultBlocklistExpire, 0)
			}
			_ = w.Nova.ForceDown("cmp1", true)
			if _, err := w.Nova.Evacuate("vm01", "cmp2"); err != nil {
				t.Fatal(err)
			}
			w.runFor(10 * time.Second)
			if got := w.DoubleWriters(); len(got) != 0 {
				t.Fatalf("double writers after a %s fence: %v", fence, got)
			}
		})
	}
}

func TestRestartedNovaComputeDestroysEvacuatedGuests(t *testing.T) {
	w := newTestWorld(t)
	w.runFor(5 * time.Second)
	h := w.Host("cmp1")
	w.StopProc(h, NovaCompute)
	_ = w.Nova.ForceDown("cmp1", true)
	if _, err := w.Nova.Evacuate("vm01", "cmp2"); err != nil {
		t.Fatal(err)
	}
	w.runFor(2 * time.Second)
	w.StartProc(h, NovaCompute)
	w.runFor(initHostTime - 100*time.Millisecond)
	if !h.Domains["vm01"] {
		t.Fatal("init_host finished early")
	}
	w.runFor(200 * time.Millisecond)
	if h.Domains["vm01"] {
		t.Fatal("init_host left the evacuated guest running")
	}
}

// wdWorld is a cluster with the watchdog contract in force and a vigil
// controller granting (a stand-in policy that grants every report).
func wdWorld(t *testing.T) (*World, *Controller) {
	t.Helper()
	w, err := NewWorld(Config{Hosts: 3, Instances: 3, Watchdog: &Watchdog{IsolationTimeout: 10 * time.Second, WatchdogTimeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return w, NewController(w, func() Policy { return &grantAll{} })
}

func (w *World) runWith(c *Controller, d time.Duration) {
	for end := w.now + d; w.now < end; {
		w.advance()
		c.advance()
	}
}

func TestWatchdogResetsAHostWithoutGrants(t *testing.T) {
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	h := w.Host("cmp1")
	w.Cut(h, "mgmt", true)
	w.Cut(h, "storage", true)
	// Last grant at most 1 s before the cut: fed until 10 s after it, reset
	// 30 s after the last feed.
	w.runWith(c, 38*time.Second)
	if !h.On {
		t.Fatal("reset before grant validity + watchdog timeout")
	}
	w.runWith(c, 3*time.Second)
	if h.On || len(h.Domains) != 0 {
		t.Fatalf("no grant for 41 s: on=%v guests=%v, want reset", h.On, h.Domains)
	}
}

func TestAPeerAnsweringDoesNotFeedTheWatchdog(t *testing.T) {
	// cmp1 and cmp2 reach each other and nobody else: the old contract
	// kept both alive forever.
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	for _, net := range []string{"mgmt", "storage"} {
		w.Partition(net, [][]string{{"cmp1", "cmp2"}, {"cmp3", Controllers}})
	}
	w.runWith(c, 42*time.Second)
	if w.Host("cmp1").On || w.Host("cmp2").On {
		t.Fatal("hosts that reach only each other kept feeding their watchdogs")
	}
}

func TestARelayedGrantKeepsAHostAlive(t *testing.T) {
	// cmp1 lost mgmt and reaches only cmp2 on storage; cmp2 reaches the
	// controllers on mgmt and relays cmp1's reports: the leader grants them.
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	w.Cut(w.Host("cmp1"), "mgmt", true)
	w.Partition("storage", [][]string{{"cmp1", "cmp2"}, {"cmp3", Controllers}})
	w.runWith(c, 120*time.Second)
	if !w.Host("cmp1").On {
		t.Fatal("a host with a relay to the leader was reset")
	}
}

func TestACrashedAgentLeavesTheWatchdogRunning(t *testing.T) {
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	h := w.Host("cmp1")
	w.Cut(h, "mgmt", true)
	w.Cut(h, "storage", true)
	w.CrashProc(h, Agent)
	w.runWith(c, 5*time.Second)
	w.StartProc(h, Agent) // resumes from the persisted grant, not a fresh clock
	w.runWith(c, 36*time.Second)
	if h.On {
		t.Fatal("an agent restart during isolation postponed the reset")
	}
}

func TestACleanStopDisarmsOnlyWhenAcknowledged(t *testing.T) {
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	acked, cut := w.Host("cmp1"), w.Host("cmp2")
	w.StopProc(acked, Agent) // the leader hears it: disarmed
	w.Cut(acked, "mgmt", true)
	w.Cut(acked, "storage", true)
	w.Cut(cut, "mgmt", true)
	w.Cut(cut, "storage", true)
	w.StopProc(cut, Agent) // nobody hears it: the watchdog keeps counting
	boot := cut.Boot
	w.runWith(c, 120*time.Second)
	if !acked.On || acked.Boot != boot {
		t.Fatal("an acknowledged clean stop still reset the host")
	}
	if cut.Boot == boot {
		t.Fatal("a clean stop nobody acknowledged disarmed the watchdog")
	}
}

func TestNoGuestStartsWithoutAGrant(t *testing.T) {
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	h := w.Host("cmp1")
	w.Cut(h, "mgmt", true)
	w.Cut(h, "storage", true)
	w.PowerOff(h, "test")
	w.runWith(c, time.Second)
	w.PowerOn(h, "test")
	w.runWith(c, 20*time.Second)
	if len(h.Domains) != 0 {
		t.Fatalf("guests %v started on a host whose agent holds no grant", h.Domains)
	}
	w.Cut(h, "mgmt", false) // granted again: the gate lets the start through
	w.runWith(c, 5*time.Second)
	if !h.Domains["vm01"] {
		t.Fatal("the gate still held the guest once the agent was granted")
	}
}

// grantAll is a policy that decides nothing, grants every report and
// acknowledges every clean stop at its next Tick.
type grantAll struct{ acks []decision.Ack }

func (*grantAll) AddHost(decision.HostInfo) {}
func (g *grantAll) Step(_ time.Time, in decision.Input) {
	if m, ok := in.(decision.AgentStopping); ok {
		g.acks = append(g.acks, decision.Ack{Host: m.Host, BootID: m.BootID, Agent: m.Agent, Seq: m.Seq})
	}
}
func (g *grantAll) Tick(time.Time) decision.Ready {
	r := decision.Ready{Acks: g.acks}
	g.acks = nil
	return r
}
func (*grantAll) Restore([]decision.Record)                 {}
func (*grantAll) RestoreSnapshot([]decision.Record, uint64) {}
func (*grantAll) Status() []decision.HostStatus             { return nil }
func (*grantAll) Grant(_ time.Time, r decision.AgentReport) (decision.Grant, error) {
	return decision.Grant{Host: r.Host, BootID: r.Self.BootID, Agent: r.Self.Agent, Seq: r.Self.Seq, Guests: true}, nil
}

// A host its watchdog reset and a BMC then powered off stays off: the reboot
// after the reset never comes (found by vigil lab fuzz --seed 1796236286,
// schedule 4442: the host booted again over vigil's verified fence, which
// vigil then read as lifted, and stopped evacuating its instances).
func TestChassisOffCancelsTheRebootAfterAReset(t *testing.T) {
	w, c := wdWorld(t)
	w.runWith(c, 5*time.Second)
	h := w.Host("cmp1")
	w.Cut(h, "mgmt", true)
	w.Cut(h, "storage", true)
	w.runWith(c, 45*time.Second)
	if h.On || !h.Rebooting() {
		t.Fatalf("setup: the watchdog did not reset cmp1 (on %v, rebooting %v)", h.On, h.Rebooting())
	}
	w.ChassisOff(h, "fenced: ipmi chassis power off")
	for end := w.now + 120*time.Second; w.now < end && !h.On; {
		w.runWith(c, time.Second)
	}
	if h.On {
		t.Fatal("a host powered off by its BMC booted again: the reboot after its watchdog reset came through")
	}
}
