package decision

import (
	"errors"
	"testing"
	"time"
)

// TestGrant pins who gets a grant, and when a grant lets a host start guests.
func TestGrant(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := DefaultConfig()
	cfg.SelfFenceAfter = 46 * time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	rep := func(boot string) AgentReport {
		return AgentReport{Host: "cmp1", Network: "mgmt", Self: SelfReport{BootID: boot, WatchdogArmed: true,
			NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
	}
	if _, err := e.Grant(t0, rep("b1")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a follower granted: %v", err)
	}
	e.Step(t0, Leadership{Leader: true, Token: 7})
	g, err := e.Grant(t0, rep("b1"))
	if err != nil || g.Token != 7 || !g.Guests || g.BootID != "b1" {
		t.Fatalf("healthy host: grant %+v, %v; want token 7, guests allowed", g, err)
	}
	// cmp1 falls silent, every fence fails; past the safe time from its
	// last grant (t0) vigil counts boot b1 as reset by its watchdog.
	now := t0
	for ; now.Before(t0.Add(60 * time.Second)); now = now.Add(250 * time.Millisecond) {
		e.Step(now, AgentReport{Host: "cmp2", Network: "mgmt", Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		e.Step(now, AgentReport{Host: "cmp2", Network: "storage", Self: SelfReport{BootID: "x", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
		e.Step(now, StorageHeartbeats{OK: true})
		for _, a := range e.Tick(now).Actions {
			if a.Kind == ActFence {
				e.Step(now, FenceResult{Host: "cmp1", Level: a.Level, Err: "BMC unreachable"})
			}
		}
	}
	if st := e.Status()[0]; st.Fence == nil || st.Fence.Method != "watchdog" {
		t.Fatalf("cmp1 not counted as self-fenced after 60 s: %+v", st)
	}
	if _, err := e.Grant(now, rep("b1")); !errors.Is(err, ErrBootFenced) {
		t.Fatalf("the boot counted as reset got a grant: %v", err)
	}
	g, err = e.Grant(now, rep("b2"))
	if err != nil || g.Guests {
		t.Fatalf("a new boot during the incident: %+v, %v; want a grant that starts no guests", g, err)
	}
}

// TestSelfFenceCountsFromTheLastGrant: a report the controller did not grant
// (it was not leader then) does not move the safe time, a grant does, and a
// new leader counts from its election.
func TestSelfFenceCountsFromTheLastGrant(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, _ := New(DefaultConfig())
	e.AddHost(HostInfo{Name: "cmp1"})
	h := e.hosts["cmp1"]
	e.Step(t0, Leadership{Leader: true})
	if got := e.selfFenceFrom(h); !got.Equal(t0) {
		t.Fatalf("never granted: from %v, want the election %v", got, t0)
	}
	r := AgentReport{Host: "cmp1", Network: "mgmt", Self: SelfReport{BootID: "b1", WatchdogArmed: true}}
	if _, err := e.Grant(t0.Add(5*time.Second), r); err != nil {
		t.Fatal(err)
	}
	if got := e.selfFenceFrom(h); !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("after a grant at +5s: from %v", got)
	}
	e.Step(t0.Add(6*time.Second), Leadership{Leader: false})
	e.Step(t0.Add(9*time.Second), Leadership{Leader: true})
	if got := e.selfFenceFrom(h); !got.Equal(t0.Add(9 * time.Second)) {
		t.Fatalf("re-elected at +9s: from %v, want the election", got)
	}
	e.Step(t0.Add(10*time.Second), AgentStopping{Host: "cmp1", BootID: "b1"})
	if h.grantArmed {
		t.Fatal("an acknowledged clean stop left the watchdog counted as armed")
	}
}
