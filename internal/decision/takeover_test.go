package decision

import (
	"testing"
	"time"
)

// A new leader hears a host's agent on one network a moment before the
// other (the other's first report waited for the new leader's challenge):
// that is no lost network. Within the failover grace a network not yet
// heard in this term is not yet known; no network-degraded transition or
// alert fires for it. Before the fix every takeover alerted network-degraded
// for the hosts whose reports came in that order (seen on the controller
// daemon's integration bed). Past the grace, a network still unheard is
// lost, and said so.
func TestTakeoverDoesNotCallAnUnheardNetworkLost(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(t0, Leadership{Leader: true, Token: 7})
	self := SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
	judge := func(at time.Duration, nets ...string) (State, []string) {
		now := t0.Add(at)
		for _, n := range nets {
			e.Step(now, AgentReport{Host: "cmp1", Network: n, Self: self})
		}
		var alerts []string
		for _, a := range e.Tick(now).Actions {
			if a.Kind == ActAlert {
				alerts = append(alerts, a.Code)
			}
		}
		return e.Status()[0].State, alerts
	}
	if st, alerts := judge(500*time.Millisecond, "storage"); st == NetworkDegraded || len(alerts) > 0 {
		t.Fatalf("heard on storage only, 0.5 s into the term: %s, alerts %v; want neither network-degraded nor an alert", st, alerts)
	}
	if st, alerts := judge(time.Second, "storage", "mgmt"); st != Healthy || len(alerts) > 0 {
		t.Fatalf("heard on both at 1 s: %s, alerts %v; want healthy, no alert", st, alerts)
	}

	// Another host, never heard on mgmt in this term: past the grace it has
	// lost mgmt.
	e.AddHost(HostInfo{Name: "cmp2"})
	grace := DefaultConfig().FailoverGrace
	var st State
	for at := time.Second; at <= grace+2*time.Second; at += 500 * time.Millisecond {
		now := t0.Add(at)
		e.Step(now, AgentReport{Host: "cmp1", Network: "mgmt", Self: self})
		e.Step(now, AgentReport{Host: "cmp1", Network: "storage", Self: self})
		e.Step(now, AgentReport{Host: "cmp2", Network: "storage", Self: self})
		e.Tick(now)
		st = e.Status()[1].State
		if at < grace && st == NetworkDegraded {
			t.Fatalf("cmp2 network-degraded at %v, within the grace", at)
		}
	}
	if st != NetworkDegraded {
		t.Fatalf("cmp2, heard on storage only, past the grace: %s; want network-degraded", st)
	}
}
