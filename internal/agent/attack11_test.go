package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Eleventh adversarial review (attack11), against c966ce6. Each test fails
// on the code it was written against.

// Finding N3 (double writer, K4 for the watchdog's own timeout): a
// restarted process resumes min(expiry, sent + its isolation timeout) from
// its predecessor's grant, so a shorter isolation timeout cannot feed past
// what the leader counted. Its watchdog timeout is not bounded the same
// way: the successor opens the device with its own watchdog.timeout (60 s,
// an operator's change rolled out with the restart; or a device that
// rounds up), and feeds it on the grant its predecessor earned with 30 s.
// The leader counts the predecessor's belief (armed, 30 s) until the
// successor's first report, which never comes when cmp1 is cut off with
// its BMC right at the restart: the leader concludes 46 s after the last
// grant, and the device resets cmp1 60 s after the successor's last feed.
func TestAttack11RestartResumesWithLongerWatchdog(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := decision.DefaultConfig()
	cfg.SelfFenceAfter, cfg.IsolationTimeout, cfg.WatchdogTimeout = 46*time.Second, 10*time.Second, 30*time.Second
	e, err := decision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(decision.HostInfo{Name: "cmp1"})
	e.AddHost(decision.HostInfo{Name: "cmp2"})
	e.Step(t0, decision.Leadership{Leader: true, Token: 1})
	l := &leader{t: t, e: e, alerts: map[string]int{}}
	p1, err := NewContract("b1", "p1", 10*time.Second, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	p1.SetWatchdogTimeout(30 * time.Second)
	var saved Saved
	var last time.Time
	for i := 0; i < 4; i++ {
		s := p1.Report(time.Duration(i)*time.Second, decision.SelfReport{NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}})
		r := decision.AgentReport{Host: "cmp1", Network: "mgmt", Self: s}
		last = t0.Add(time.Duration(i) * time.Second)
		e.Step(last, r)
		g, err := e.Grant(last, r)
		if err != nil {
			t.Fatal(err)
		}
		if sv, ok := p1.Granted(g); ok {
			saved = sv
		}
		l.tick(last)
	}
	// Restarted at +3.5 s with watchdog.timeout 60 s; it takes the armed
	// device over and sets its timeout, and is cut off before it reports.
	p2, err := NewContract("b1", "p2", 10*time.Second, true, &saved)
	if err != nil {
		t.Fatal(err)
	}
	p2.SetWatchdogTimeout(60 * time.Second)
	concluded := l.silent(last.Add(250*time.Millisecond), 2*time.Minute)
	if concluded.IsZero() {
		t.Fatalf("setup: the leader never counted cmp1 reset by its watchdog (alerts %v)", l.alerts)
	}
	fed := time.Duration(0)
	for c := 3500 * time.Millisecond; c < 2*time.Minute; c += 100 * time.Millisecond {
		if p2.Feed(c) {
			fed = c
		}
	}
	if fed == 0 {
		return // p2 does not feed on a grant earned with a shorter watchdog: safe
	}
	reset := t0.Add(fed + 60*time.Second)
	if concluded.Before(reset) {
		t.Fatalf("DOUBLE WRITER: the leader counted cmp1 reset by its watchdog at +%v (its predecessor's 30 s watchdog), but p2 fed its 60 s watchdog until +%v on p1's grant: the device resets cmp1 only at +%v", concluded.Sub(t0), fed, reset.Sub(t0))
	}
}

// Finding N4 (a live host's guests held forever, nobody told; K1 with three
// processes): flap detection counts placements that alternate between two
// processes of one boot (A B A B ...). Three live processes that take the
// ticket from each other in turn (A B C A B C ...; a package, a container
// and a leftover of a restart) never repeat the process placed before the
// holder, the count never passes 1, and agent-duplicate never fires: no
// ticket is ever echoed, no grant lets guests start, nothing is stale.
func TestAttack11ThreeLiveAgentsRotateUnannounced(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLeader(t, t0)
	p1 := newC(t, "p1", nil)
	for i := 0; i < 3; i++ {
		l.report(t0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second, p1)
		l.tick(t0.Add(time.Duration(i) * time.Second))
	}
	var ps []*Contract
	ps = append(ps, p1)
	for _, id := range []string{"p2", "p3"} {
		p, err := NewContract("b1", id, iso, false, nil) // p1 holds the device
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	held := 0
	for i := 3; i < 123; i++ {
		for k, p := range []*Contract{ps[1], ps[2], ps[0]} {
			at := t0.Add(time.Duration(i)*time.Second + time.Duration(k)*333*time.Millisecond)
			now := time.Duration(i)*time.Second + time.Duration(k)*333*time.Millisecond
			g, _ := l.report(at, now, p)
			l.tick(at)
			if i >= 63 && !g.Guests {
				held++
			}
		}
	}
	if l.alerts["agent-duplicate"] == 0 {
		t.Fatalf("NOBODY TOLD: three agent processes reported in turn every second for two minutes and vigil never alerted agent-duplicate; grants withheld guests %d times of the last 180 (alerts %v)", held, l.alerts)
	}
}

// Finding N12 (a live host's guests held forever, nobody told; K1 with an
// old agent): an agent that names no process (one from before agent ids:
// the old package left running beside the new container in a rolling
// upgrade) is never the holder and never stale (it carries no ticket), so
// each of its reports is placed anew and takes the ticket from the new
// agent, whose next report takes it back, unechoed. flap skips placements
// of an unnamed agent (agent == ""), staleMessage never sees one, and
// watchdog-unidentified fires only when the old agent feeds a watchdog:
// the new agent's grants withhold guests for good and vigil says nothing.
func TestAttack11UnnamedOldAgentFlapsUnannounced(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLeader(t, t0)
	p2 := newC(t, "p2", nil)
	for i := 0; i < 3; i++ {
		l.report(t0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second, p2)
		l.tick(t0.Add(time.Duration(i) * time.Second))
	}
	held := 0
	for i := 3; i < 123; i++ {
		at, now := t0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second
		old := decision.AgentReport{Host: "cmp1", Network: "mgmt", Self: decision.SelfReport{BootID: "b1",
			NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}}
		l.e.Step(at, old)
		if _, err := l.e.Grant(at, old); err != nil {
			t.Fatal(err)
		}
		l.tick(at)
		g, _ := l.report(at.Add(500*time.Millisecond), now+500*time.Millisecond, p2)
		l.tick(at.Add(500 * time.Millisecond))
		if i >= 63 && !g.Guests {
			held++
		}
	}
	if held > 0 && l.alerts["agent-duplicate"] == 0 && l.alerts["watchdog-unidentified"] == 0 {
		t.Fatalf("NOBODY TOLD: an unnamed old agent and p2 reported in turn for two minutes; p2's grants withheld guests %d of the last 60 s and vigil never alerted (alerts %v)", held, l.alerts)
	}
}
