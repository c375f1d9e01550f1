package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

const iso = 10 * time.Second

func newC(t *testing.T, id string, saved *Saved) *Contract {
	t.Helper()
	c, err := NewContract("b1", id, iso, true, saved)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grantFor is the leader's grant answering report r.
func grantFor(r decision.SelfReport, guests bool) decision.Grant {
	return decision.Grant{Host: "cmp1", BootID: r.BootID, Agent: r.Agent, Seq: r.Seq, Guests: guests}
}

func TestGrantCountsFromTheReportNotItsArrival(t *testing.T) {
	c := newC(t, "p1", nil)
	if c.Feed(0) || c.MayStartGuests(0) {
		t.Fatal("a new process on a new boot feeds or starts guests before any grant")
	}
	r := c.Report(5*time.Second, decision.SelfReport{})
	saved, ok := c.Granted(grantFor(r, true)) // arrives whenever: it counts from 5 s
	if !ok || saved.Expiry != 15*time.Second || saved.BootID != "b1" {
		t.Fatalf("saved %+v, %v; want expiry 15s on b1", saved, ok)
	}
	if !c.Feed(14*time.Second) || c.Feed(15*time.Second) || !c.Isolated(15*time.Second) {
		t.Fatal("fed past report time + isolation_timeout, or not before")
	}
	if !c.MayStartGuests(14*time.Second) || c.MayStartGuests(15*time.Second) {
		t.Fatal("the guest gate outlives the grant, or opens too late")
	}
}

func TestGrantsOnlyForThisProcessesOwnReports(t *testing.T) {
	c := newC(t, "p2", nil)
	r := c.Report(time.Second, decision.SelfReport{})
	for _, g := range []decision.Grant{
		{BootID: "b1", Agent: "p1", Seq: r.Seq, Guests: true},     // the predecessor's
		{BootID: "b0", Agent: "p2", Seq: r.Seq, Guests: true},     // another boot's
		{BootID: "b1", Agent: "p2", Seq: r.Seq + 7, Guests: true}, // a report it never sent
	} {
		if _, ok := c.Granted(g); ok || c.Feed(2*time.Second) {
			t.Fatalf("grant %+v was taken", g)
		}
	}
	for range sentKept + 1 {
		c.Report(2*time.Second, decision.SelfReport{})
	}
	if _, ok := c.Granted(grantFor(r, true)); ok {
		t.Fatal("a grant for a report older than the process remembers was taken (its send time is unknown)")
	}
}

func TestRestartResumesOnlyOnTheSameBoot(t *testing.T) {
	c := newC(t, "p1", nil)
	r := c.Report(5*time.Second, decision.SelfReport{})
	saved, _ := c.Granted(grantFor(r, true))
	next := newC(t, "p2", &saved)
	if !next.Feed(14*time.Second) || next.Feed(15*time.Second) {
		t.Fatal("a restarted process does not resume from its predecessor's grant, or extends it")
	}
	if next.MayStartGuests(6 * time.Second) {
		t.Fatal("a restarted process let guests start on its predecessor's word")
	}
	other, err := NewContract("b2", "p3", iso, true, &saved)
	if err != nil {
		t.Fatal(err)
	}
	if other.Feed(6 * time.Second) {
		t.Fatal("a new boot resumed from the old boot's grant: it starts isolated")
	}
}

func TestExpiryNeverMovesBack(t *testing.T) {
	c := newC(t, "p1", nil)
	old := c.Report(1*time.Second, decision.SelfReport{})
	recent := c.Report(4*time.Second, decision.SelfReport{})
	if s, ok := c.Granted(grantFor(recent, true)); !ok || s.Expiry != 14*time.Second {
		t.Fatalf("recent grant: %+v %v", s, ok)
	}
	if _, ok := c.Granted(grantFor(old, true)); ok || !c.Feed(13*time.Second) {
		t.Fatal("a late grant for an older report moved the expiry back")
	}
}

func TestGuestsFollowTheNewestReportsGrant(t *testing.T) {
	c := newC(t, "p1", nil)
	old := c.Report(1*time.Second, decision.SelfReport{})
	recent := c.Report(2*time.Second, decision.SelfReport{})
	c.Granted(grantFor(recent, false)) // an incident now holds the host
	c.Granted(grantFor(old, true))     // an older grant, arriving late
	if c.MayStartGuests(3 * time.Second) {
		t.Fatal("a late grant for an older report let guests start over the newest grant's refusal")
	}
}

func TestTicketIsEchoed(t *testing.T) {
	c := newC(t, "p1", nil)
	r := c.Report(time.Second, decision.SelfReport{})
	if !r.Ticket.IsZero() || r.Agent != "p1" || r.BootID != "b1" || !r.WatchdogArmed || r.Seq != 1 {
		t.Fatalf("first report %+v", r)
	}
	g := grantFor(r, false)
	g.Ticket = decision.Ticket{Term: 3, N: 9}
	c.Granted(g)
	if r := c.Report(2*time.Second, decision.SelfReport{}); r.Ticket != g.Ticket || r.Seq != 2 {
		t.Fatalf("next report %+v: want the ticket echoed, seq 2", r)
	}
	if m := c.Stop(); m.Ticket != g.Ticket || m.Agent != "p1" || m.Seq != 3 {
		t.Fatalf("stop notice %+v", m)
	}
}

func TestCleanStopDisarmsOnlyOnItsOwnAck(t *testing.T) {
	c := newC(t, "p2", nil)
	r := c.Report(time.Second, decision.SelfReport{})
	c.Granted(grantFor(r, true))
	m := c.Stop()
	if !c.Stopping() || !c.Feed(5*time.Second) {
		t.Fatal("a stopping process stops feeding before its grant ends: a slow ack would reset a healthy host")
	}
	for _, a := range []decision.Ack{
		{BootID: "b1", Agent: "p1", Seq: m.Seq},     // the predecessor's notice
		{BootID: "b1", Agent: "p2", Seq: m.Seq - 1}, // an older notice
		{BootID: "b0", Agent: "p2", Seq: m.Seq},     // another boot
	} {
		if c.Acked(a) || !c.Armed() {
			t.Fatalf("ack %+v disarmed it", a)
		}
	}
	if !c.Acked(decision.Ack{Host: "cmp1", BootID: "b1", Agent: "p2", Seq: m.Seq}) || c.Armed() || c.Feed(5*time.Second) {
		t.Fatal("its own ack did not disarm it")
	}
}

func TestNewContractRefusesNonsense(t *testing.T) {
	if _, err := NewContract("", "p1", iso, true, nil); err == nil {
		t.Fatal("no boot id accepted")
	}
	if _, err := NewContract("b1", "", iso, true, nil); err == nil {
		t.Fatal("no process id accepted")
	}
	if _, err := NewContract("b1", "p1", 0, true, nil); err == nil {
		t.Fatal("zero isolation timeout accepted")
	}
}

// Reports after a stop notice say so, so that no leader, not one restored
// from a snapshot that lost the stop, counts the process armed; a process
// whose reports go ungranted drops its ticket (it may be refused as stale)
// and is placed anew; one that abandoned its device no longer says armed.
// (attack9 I5, attack8 H6, attack9 I6.)
func TestStoppingUngrantedAbandoned(t *testing.T) {
	c := newC(t, "p1", nil)
	r := c.Report(time.Second, decision.SelfReport{})
	g := grantFor(r, false)
	g.Ticket = decision.Ticket{Term: 3, N: 9}
	c.Granted(g)
	for i := 0; i < UngrantedDrop; i++ {
		if r := c.Report(time.Duration(2+i)*time.Second, decision.SelfReport{}); r.Ticket != g.Ticket {
			t.Fatalf("report %d without a grant dropped the ticket already: %+v", i+1, r)
		}
	}
	if r := c.Report(9*time.Second, decision.SelfReport{}); !r.Ticket.IsZero() {
		t.Fatalf("after %d ungranted reports the process still carries ticket %v", UngrantedDrop+1, r.Ticket)
	}
	c.Stop()
	if r := c.Report(10*time.Second, decision.SelfReport{}); !r.Stopping || !r.WatchdogArmed {
		t.Fatalf("a report after the stop notice: %+v, want Stopping and still armed (until the ack)", r)
	}
	c.Abandoned()
	if r := c.Report(11*time.Second, decision.SelfReport{}); r.WatchdogArmed {
		t.Fatalf("a process that abandoned its device says armed: %+v", r)
	}
}

// A grant carries the leader's isolation timeout: a process configured
// with a longer one holds the grant no longer than the leader counts
// (scenarios/watchdog-zombie-grants-longer-isolation-successor.yaml), and
// a process configured shorter keeps its own.
func TestGrantLastsNoLongerThanTheLeadersIsolationTimeout(t *testing.T) {
	long, err := NewContract("b1", "p1", 60*time.Second, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := grantFor(long.Report(5*time.Second, decision.SelfReport{}), true)
	g.IsolationTimeout = iso
	if saved, ok := long.Granted(g); !ok || saved.Expiry != 15*time.Second {
		t.Fatalf("saved %+v, %v; want the leader's 10 s from the report at 5 s", saved, ok)
	}
	if !long.HoldsGrant(14*time.Second) || long.HoldsGrant(15*time.Second) {
		t.Fatal("the grant does not end at 15 s")
	}
	short := newC(t, "p2", nil)
	g = grantFor(short.Report(5*time.Second, decision.SelfReport{}), true)
	g.IsolationTimeout = 60 * time.Second
	if saved, _ := short.Granted(g); saved.Expiry != 15*time.Second {
		t.Fatalf("expiry %v; a longer leader timeout must not lengthen the process's own 10 s", saved.Expiry)
	}
}
