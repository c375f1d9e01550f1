package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Tenth adversarial review (attack10), against f57739d: the agent's half
// of the contract (Contract) driven against a real decision.Engine. Each
// test fails on the code it was written against.

// leader is a decision.Engine leading, whose records are written at once.
type leader struct {
	t      *testing.T
	e      *decision.Engine
	alerts map[string]int
	acks   []decision.Ack
}

func newLeader(t *testing.T, at time.Time) *leader {
	cfg := decision.DefaultConfig()
	cfg.SelfFenceAfter = 46 * time.Second
	e, err := decision.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(decision.HostInfo{Name: "cmp1"})
	e.AddHost(decision.HostInfo{Name: "cmp2"})
	e.Step(at, decision.Leadership{Leader: true, Token: 1})
	return &leader{t: t, e: e, alerts: map[string]int{}}
}

// report sends c's report at its clock reading now (and the leader's time
// at), and hands c the grant; it returns the grant and the error.
func (l *leader) report(at time.Time, now time.Duration, c *Contract) (decision.Grant, error) {
	s := c.Report(now, decision.SelfReport{NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}})
	r := decision.AgentReport{Host: "cmp1", Network: "mgmt", Self: s}
	l.e.Step(at, r)
	g, err := l.e.Grant(at, r)
	if err != nil && !errors.Is(err, decision.ErrStale) {
		l.t.Fatal(err)
	}
	if err == nil {
		c.Granted(g)
	}
	return g, err
}

// tick runs a Tick whose records are written.
func (l *leader) tick(at time.Time) {
	rd := l.e.Tick(at)
	if len(rd.Records) > 0 {
		l.e.Step(at, decision.Persisted{Ready: rd.Seq})
	}
	for _, a := range rd.Actions {
		if a.Kind == decision.ActAlert {
			l.alerts[a.Code]++
		}
	}
	l.acks = append(l.acks, rd.Acks...)
}

// Finding K1 (a live host's guests held forever, nobody told): two agent
// processes running at once on one host (a package beside the container, a
// restart that did not stop the old one) are handled by ignoring the older
// as stale once the newer echoed its ticket, and saying so (agent-duplicate,
// after staleAfter = 5 stale messages: TestAttack7TwoLiveAgentsAlert). That
// test's agents answer a new ticket at once; real ones report once an
// interval. Then each process's report comes between the other's: p2's
// first word takes the ticket, p1's next report (its old ticket, which the
// unechoed new one cannot prove stale) takes it back before p2 reports
// again, and so on. Nobody ever echoes, no grant hands a ticket out (the
// holder changes before its record is confirmed), every report is a record
// write, p2's grants withhold guests for good, and since no message is ever
// stale vigil never says that two agents run. Here p1 (the old one, holding
// the device) and p2 report every second, half a second apart, for two
// minutes.
func TestAttack10TwoLiveAgentsFlapUnannounced(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLeader(t, t0)
	p1 := newC(t, "p1", nil)
	for i := 0; i < 3; i++ {
		l.report(t0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second, p1)
		l.tick(t0.Add(time.Duration(i) * time.Second))
	}
	p2, err := NewContract("b1", "p2", iso, false, nil) // p1 holds the device
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	tickets := map[decision.Ticket]bool{}
	for i := 3; i < 123; i++ {
		at, now := t0.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second
		g, _ := l.report(at, now, p2)
		l.tick(at)
		g1, _ := l.report(at.Add(500*time.Millisecond), now+500*time.Millisecond, p1)
		l.tick(at.Add(500 * time.Millisecond))
		if i >= 63 && !g.Guests {
			held++
		}
		tickets[g.Ticket], tickets[g1.Ticket] = true, true
	}
	if l.alerts["agent-duplicate"] == 0 {
		t.Fatalf("NOBODY TOLD: two agent processes reported every second for two minutes and vigil never alerted agent-duplicate; %d tickets were handed out and p2's grants withheld guests %d of the last 60 s (alerts %v)", len(tickets), held, l.alerts)
	}
}

// stop delivers a stop notice at at and runs a tick; it returns whether an
// ack that c takes (its own notice) went out.
func (l *leader) stop(at time.Time, c *Contract, m decision.AgentStopping) bool {
	m.Host = "cmp1"
	l.e.Step(at, m)
	l.tick(at)
	for _, a := range l.acks {
		if c.Acked(a) {
			return true
		}
	}
	return false
}

// Finding K2 (healthy host reset, nobody told): a stop notice is taken only
// when it is newer than every report of its process the leader granted
// (stopping: m.Seq < grantSeq is "not the last word"). But a stopping agent
// goes on reporting while it waits for its ack, and every such report is
// numbered after the notice and says Stopping: one that arrives before the
// notice (sent a moment later over another path, or a notice retried after
// its ack was lost) makes the notice look older than the process's last
// word, and it is dropped without an ack. The agent feeds its watchdog
// while its grant lasts, and the device resets the host it was stopping for
// an upgrade. Here p1's first report after its notice arrives first.
func TestAttack10StopNoticeOvertakenByStoppingReport(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLeader(t, t0)
	p1 := newC(t, "p1", nil)
	for i := 0; i < 3; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		l.report(at, time.Duration(i)*time.Second, p1)
		l.tick(at)
	}
	at, now := t0.Add(3*time.Second), 3*time.Second
	m := p1.Stop()
	if _, err := l.report(at, now, p1); err != nil { // says Stopping; overtakes the notice
		t.Fatal(err)
	}
	l.tick(at)
	if !l.stop(at.Add(100*time.Millisecond), p1, m) {
		t.Fatalf("HEALTHY HOST RESET: p1's stop notice (seq %d) arrived just after its next report (which says Stopping) and was never acknowledged (acks %v): p1 cannot disarm, and its watchdog resets cmp1", m.Seq, l.acks)
	}
}

// Finding K3 (healthy host reset, K2 by a lost ack): the ack of a stop
// goes out once its record is written; if it is lost on its way (the
// agent's connection drops), the agent can only send its notice again, and
// the engine drops the retried notice for the same reason: the reports p1
// sent while waiting came after it.
func TestAttack10RetriedStopNoticeNeverAcked(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLeader(t, t0)
	p1 := newC(t, "p1", nil)
	for i := 0; i < 3; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		l.report(at, time.Duration(i)*time.Second, p1)
		l.tick(at)
	}
	at, now := t0.Add(3*time.Second), 3*time.Second
	m := p1.Stop()
	m.Host = "cmp1"
	l.e.Step(at, m)
	l.tick(at)
	if len(l.acks) != 1 {
		t.Fatalf("setup: the notice was not acknowledged: %v", l.acks)
	}
	l.acks = nil // lost on its way to p1
	for i := 1; i <= 2; i++ {
		if _, err := l.report(at.Add(time.Duration(i)*time.Second), now+time.Duration(i)*time.Second, p1); err != nil {
			t.Fatal(err)
		}
		l.tick(at.Add(time.Duration(i) * time.Second))
	}
	if !l.stop(at.Add(3*time.Second), p1, m) {
		t.Fatalf("HEALTHY HOST RESET: p1's ack was lost and its retried notice (seq %d) was dropped as older than its Stopping reports (acks since %v): p1 cannot disarm, and its watchdog resets cmp1", m.Seq, l.acks)
	}
}

// silent plays cmp1 saying nothing from at for d while cmp2 and the storage
// heartbeats are well and every fence of cmp1 fails (its BMC is cut off
// with it); it returns when the leader counted cmp1 reset by its watchdog,
// or the zero time.
func (l *leader) silent(at time.Time, d time.Duration) time.Time {
	for end := at.Add(d); at.Before(end); at = at.Add(250 * time.Millisecond) {
		for _, net := range []string{"mgmt", "storage"} {
			l.e.Step(at, decision.AgentReport{Host: "cmp2", Network: net, Self: decision.SelfReport{BootID: "x", NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}})
		}
		l.e.Step(at, decision.StorageHeartbeats{OK: true})
		rd := l.e.Tick(at)
		if len(rd.Records) > 0 {
			l.e.Step(at, decision.Persisted{Ready: rd.Seq})
		}
		for _, a := range rd.Actions {
			if a.Kind == decision.ActFence {
				l.e.Step(at, decision.FenceResult{Host: a.Host, Level: a.Level, Err: "BMC unreachable"})
			}
		}
		for _, st := range l.e.Status() {
			if st.Name == "cmp1" && st.Fence != nil && st.Fence.Method == "watchdog" {
				return at
			}
		}
	}
	return time.Time{}
}

// Finding K4 (double writer): a watchdog counts only when the agent reports
// timeouts within the safe time's, and the agent reports its own; but a
// restarted process resumes its predecessor's grant expiry (Saved), which
// that predecessor's longer isolation timeout set. The operator shortens
// self_fence (isolation 60 s → 10 s) and restarts cmp1's agent: p1's last
// grant, with 60 s, goes to p2, which reports 10 s and is counted. cmp1 is
// cut off with its BMC right after: the leader concludes 46 s after its
// last grant, but p2 feeds the watchdog until p1's expiry, 60 s after p1's
// last report, and the device resets cmp1 30 s after that.
func TestAttack10RestartInheritsLongerIsolation(t *testing.T) {
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
	p1, err := NewContract("b1", "p1", 60*time.Second, true, nil) // the old configuration
	if err != nil {
		t.Fatal(err)
	}
	p1.SetWatchdogTimeout(30 * time.Second)
	var saved Saved
	for i := 0; i < 2; i++ {
		s := p1.Report(time.Duration(i)*time.Second, decision.SelfReport{NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}})
		r := decision.AgentReport{Host: "cmp1", Network: "mgmt", Self: s}
		at := t0.Add(time.Duration(i) * time.Second)
		e.Step(at, r)
		g, err := e.Grant(at, r)
		if err != nil {
			t.Fatal(err)
		}
		if sv, ok := p1.Granted(g); ok {
			saved = sv
		}
		l.tick(at)
	}
	// Restarted with the new configuration; it takes the armed device over.
	p2, err := NewContract("b1", "p2", 10*time.Second, true, &saved)
	if err != nil {
		t.Fatal(err)
	}
	p2.SetWatchdogTimeout(30 * time.Second)
	var last time.Time
	for i := 2; i < 5; i++ {
		last = t0.Add(time.Duration(i) * time.Second)
		l.report(last, time.Duration(i)*time.Second, p2)
		l.tick(last)
	}
	concluded := l.silent(last.Add(250*time.Millisecond), 2*time.Minute)
	if concluded.IsZero() {
		t.Fatalf("setup: the leader never counted cmp1 reset by its watchdog (alerts %v)", l.alerts)
	}
	fed := time.Duration(0)
	for c := 5 * time.Second; c < 2*time.Minute; c += 100 * time.Millisecond {
		if p2.Feed(c) {
			fed = c
		}
	}
	reset := t0.Add(fed + 30*time.Second)
	if concluded.Before(reset) {
		t.Fatalf("DOUBLE WRITER: the leader counted cmp1 reset by its watchdog at +%v, but p2, counted with its 10 s isolation, feeds until +%v on the expiry it resumed from p1 (60 s): the device resets cmp1 only at +%v", concluded.Sub(t0), fed, reset.Sub(t0))
	}
}
