package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// memStore is an in-memory journal whose writes and reads can be made to
// fail, as etcd's do for a deposed or cut-off leader.
type memStore struct {
	recs             map[string]decision.Record
	writes           int
	failWrite, fails bool
	failRead         bool
	restoredAt       uint64
}

func (s *memStore) Records() ([]decision.Record, uint64, error) {
	if s.failRead {
		return nil, 0, errors.New("etcd unreachable")
	}
	var out []decision.Record
	for _, r := range s.recs {
		out = append(out, r)
	}
	return out, s.restoredAt, nil
}

func (s *memStore) Write(recs []decision.Record, _ []decision.Action) error {
	if s.failWrite {
		s.fails = true
		return errors.New("etcd unreachable")
	}
	s.writes++
	for _, r := range recs {
		if Empty(r) {
			delete(s.recs, r.Host)
		} else {
			s.recs[r.Host] = r
		}
	}
	return nil
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func engine(t *testing.T) func() Policy {
	return func() Policy {
		cfg := decision.DefaultConfig()
		cfg.SelfFenceAfter = 46 * time.Second
		e, err := decision.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

var hosts = []decision.HostInfo{{Name: "cmp1"}, {Name: "cmp2"}, {Name: "cmp3"}}

func report(host, agent string, seq uint64, tk decision.Ticket) decision.AgentReport {
	return decision.AgentReport{Host: host, Network: "mgmt", Self: decision.SelfReport{BootID: "b1", Agent: agent, Seq: seq, Ticket: tk, WatchdogArmed: true,
		NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}}
}

// A Ready whose write fails is not carried out: no action but its alerts,
// no acknowledgement, and the engine is not told it is written, so the
// grant that depends on the record starts no guests, and the record is
// written again once the store is back.
func TestTickActsOnlyOnWhatIsWritten(t *testing.T) {
	s := &memStore{recs: map[string]decision.Record{}}
	l := New(engine(t), hosts, s)
	if err := l.Step(t0, decision.Persisted{}); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a loop that never led stepped: %v", err)
	}
	if _, err := l.Lead(t0, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Report(t0, report("cmp1", "p1", 1, decision.Ticket{})); err != nil {
		t.Fatal(err)
	}
	s.failWrite = true
	r, err := l.Tick(t0)
	if err == nil || !s.fails || len(r.Records) != 0 || len(r.Acks) != 0 {
		t.Fatalf("failed write: Ready %+v, err %v; want the error and nothing to carry out but alerts", r, err)
	}
	for _, a := range r.Actions {
		if a.Kind != decision.ActAlert {
			t.Fatalf("an action of an unwritten Ready is carried out: %v", a)
		}
	}
	g, _ := l.Report(t0.Add(time.Second), report("cmp1", "p1", 2, decision.Ticket{}))
	if g.Guests || !g.Ticket.IsZero() {
		t.Fatalf("a grant hands out a ticket or guests whose record was never written: %+v", g)
	}
	s.failWrite = false
	now := t0.Add(2 * time.Second)
	if _, err := l.Tick(now); err != nil {
		t.Fatal(err)
	}
	if rec, ok := s.recs["cmp1"]; !ok || rec.WatchdogTicket.IsZero() {
		t.Fatalf("the record of cmp1's ticket was not written again once the store was back: %+v", s.recs)
	}
	g, _ = l.Report(now, report("cmp1", "p1", 3, decision.Ticket{}))
	if g.Ticket.IsZero() || !g.Guests {
		t.Fatalf("written now: grant %+v, want the ticket and guests", g)
	}
}

// A new leader restores the journal and the operators' maintenance before
// it judges; one that cannot read the journal does not lead.
func TestLeadRestoresJournalAndMaintenance(t *testing.T) {
	s := &memStore{recs: map[string]decision.Record{}}
	l := New(engine(t), hosts, s)
	if _, err := l.Lead(t0, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Step(t0, decision.SetMaintenance{Host: "cmp2", On: true}); err != nil {
		t.Fatal(err)
	}
	g, _ := l.Report(t0, report("cmp1", "p1", 1, decision.Ticket{}))
	l.Tick(t0)
	g, _ = l.Report(t0, report("cmp1", "p1", 2, g.Ticket))
	l.Tick(t0)
	l.Report(t0, report("cmp1", "p1", 3, g.Ticket)) // echoes: armed
	l.Tick(t0)
	if s.recs["cmp1"].WatchdogBoot != "b1" {
		t.Fatalf("setup: cmp1's armed watchdog not journaled: %+v", s.recs["cmp1"])
	}
	l.Depose()
	if err := l.Step(t0, decision.Persisted{}); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a deposed loop stepped: %v", err)
	}
	s.failRead = true
	if _, err := l.Lead(t0.Add(time.Second), 2); err == nil || l.Leading() {
		t.Fatal("a leader that cannot read the journal leads")
	}
	s.failRead = false
	s.recs["cmp3"] = decision.Record{Host: "cmp3", Phase: decision.Fencing, Opened: t0, Failed: t0} // an incident the predecessor opened
	n, err := l.Lead(t0.Add(time.Second), 2)
	if err != nil || n != 2 {
		t.Fatalf("restored %d records (%v), want 2", n, err)
	}
	l.Tick(t0.Add(time.Second))
	st := map[string]decision.State{}
	for _, h := range l.Status() {
		st[h.Name] = h.State
	}
	if st["cmp3"] != decision.Fencing {
		t.Fatalf("the new leader did not restore cmp3's incident: %v", st)
	}
	if st["cmp2"] != decision.Maintenance {
		t.Fatalf("the new leader forgot cmp2's maintenance: %v", st)
	}
}

// spyPolicy is a test double of our own Policy interface: it records how
// it was restored.
type spyPolicy struct {
	Policy
	restoredAt uint64
	plain      bool
}

func (p *spyPolicy) Restore(recs []decision.Record) { p.plain = true; p.Policy.Restore(recs) }
func (p *spyPolicy) RestoreSnapshot(recs []decision.Record, at uint64) {
	p.restoredAt = at
	p.Policy.RestoreSnapshot(recs, at)
}

// A store restored from a snapshot says so, and every leader restores with
// the marker: what its records say of watchdogs is not believed.
func TestLeadPassesTheRestoreMarker(t *testing.T) {
	s := &memStore{recs: map[string]decision.Record{}, restoredAt: 1000}
	var spy *spyPolicy
	l := New(func() Policy { spy = &spyPolicy{Policy: engine(t)()}; return spy }, hosts, s)
	if _, err := l.Lead(t0, 1001); err != nil {
		t.Fatal(err)
	}
	if spy.plain || spy.restoredAt != 1000 {
		t.Fatalf("restored plain %v, with marker %d; want RestoreSnapshot at 1000", spy.plain, spy.restoredAt)
	}
	s.restoredAt = 0
	if _, err := l.Lead(t0, 1002); err != nil {
		t.Fatal(err)
	}
	if !spy.plain {
		t.Fatal("a store never restored was restored as a snapshot")
	}
}

// noPlans is a policy that makes no plans (as the naive rule).
type noPlans struct{ Policy }

// A loop plans only while it leads, and only with a policy that plans.
func TestPlanOnlyWhileLeading(t *testing.T) {
	l := New(engine(t), hosts, &memStore{recs: map[string]decision.Record{}})
	if _, err := l.Plan(t0, "cmp1"); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a loop that never led planned: %v", err)
	}
	if _, err := l.Lead(t0, 5); err != nil {
		t.Fatal(err)
	}
	p, err := l.Plan(t0.Add(time.Minute), "cmp2")
	if err != nil || p.Host != "cmp2" || !p.At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("the leader's plan = host %q at %v, %v; want cmp2 at %v", p.Host, p.At, err, t0.Add(time.Minute))
	}
	l.Depose()
	if _, err := l.Plan(t0, "cmp1"); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a deposed loop planned: %v", err)
	}
	n := New(func() Policy { return noPlans{engine(t)()} }, hosts, &memStore{recs: map[string]decision.Record{}})
	if _, err := n.Lead(t0, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Plan(t0, "cmp1"); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("a policy without plans planned: %v", err)
	}
}
