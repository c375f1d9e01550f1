package sim

import (
	"errors"
	"testing"
	"time"
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
				w.BlocklistAdd(h, DefaultBlocklistExpire)
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

func TestWatchdogResetsAnIsolatedHost(t *testing.T) {
	w, err := NewWorld(Config{Hosts: 3, Instances: 3, Watchdog: &Watchdog{IsolationTimeout: 10 * time.Second, WatchdogTimeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	w.runFor(5 * time.Second)
	h := w.Host("cmp1")
	w.Cut(h, "mgmt", true)
	w.Cut(h, "storage", true)
	w.runFor(35 * time.Second) // fed until isolated 10 s; resets 30 s after the last feed
	if !h.On {
		t.Fatal("reset too early")
	}
	w.runFor(7 * time.Second)
	if h.On || len(h.Domains) != 0 {
		t.Fatalf("isolated 42 s: on=%v guests=%v, want reset", h.On, h.Domains)
	}
	// A cleanly stopped agent disarms the watchdog: no reset however long.
	w2, _ := NewWorld(Config{Hosts: 3, Instances: 3, Watchdog: &Watchdog{IsolationTimeout: 10 * time.Second, WatchdogTimeout: 30 * time.Second}})
	h2 := w2.Host("cmp1")
	w2.StopProc(h2, Agent)
	w2.Cut(h2, "mgmt", true)
	w2.Cut(h2, "storage", true)
	w2.runFor(120 * time.Second)
	if !h2.On {
		t.Fatal("a disarmed watchdog reset the host")
	}
}
