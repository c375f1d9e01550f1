package agent

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// recorder is a test Watchdog: it records what the keeper did to it.
type recorder struct {
	fed      []time.Duration
	now      time.Duration
	disarmed bool
}

func (r *recorder) Keepalive() error       { r.fed = append(r.fed, r.now); return nil }
func (r *recorder) Disarm() error          { r.disarmed = true; return nil }
func (r *recorder) Abandon() error         { return nil }
func (r *recorder) Timeout() time.Duration { return 30 * time.Second }

func TestKeeperFeedsWhileGrantedAndRespondsOncePerIsolation(t *testing.T) {
	c := newC(t, "p1", nil)
	wd := &recorder{}
	var responses []Response
	k, err := NewKeeper(c, wd, RespondStopVMs, func(r Response) error { responses = append(responses, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	grant := func(at time.Duration) {
		r := c.Report(at, decision.SelfReport{})
		c.Granted(grantFor(r, true))
	}
	grant(0)
	for s := time.Duration(0); s <= 25*time.Second; s += time.Second {
		wd.now = s
		if _, err := k.Tick(s); err != nil {
			t.Fatal(err)
		}
		if s == 15*time.Second {
			grant(15 * time.Second) // the leader is back: a new isolation may come
		}
	}
	// Fed 0..9 s (grant until 10 s), isolated 10..15 s, granted again at
	// 15 s after that tick: fed 16..24 s, isolated at 25 s.
	if len(wd.fed) != 19 || wd.fed[9] != 9*time.Second || wd.fed[10] != 16*time.Second {
		t.Fatalf("fed at %v; want 0-9s and 16-24s", wd.fed)
	}
	if len(responses) != 2 || responses[0] != RespondStopVMs {
		t.Fatalf("isolation responses %v; want stop-vms once per isolation (10s, 25s)", responses)
	}
	m := c.Stop()
	if ok, err := k.Acked(decision.Ack{BootID: "b1", Agent: "p0", Seq: m.Seq}); ok || err != nil || wd.disarmed {
		t.Fatal("another process's ack disarmed the watchdog")
	}
	if ok, err := k.Acked(decision.Ack{BootID: "b1", Agent: "p1", Seq: m.Seq}); !ok || err != nil || !wd.disarmed {
		t.Fatal("its own ack did not disarm the watchdog")
	}
}

func TestKeeperRefusesABadResponse(t *testing.T) {
	if _, err := NewKeeper(newC(t, "p1", nil), &recorder{}, "halt", nil); err == nil {
		t.Fatal("an unknown isolation response was accepted")
	}
	if _, err := NewKeeper(newC(t, "p1", nil), nil, RespondNone, nil); err == nil {
		t.Fatal("an armed contract without a watchdog device was accepted")
	}
}

// Without a watchdog the isolation response is all the host does: it runs
// once per isolation too, not once per process. Fails before the fix: a
// grant ended the isolation only on the feeding path, which a host without
// a watchdog never takes, so a second isolation ran no response.
func TestKeeperWithoutWatchdogRespondsOncePerIsolation(t *testing.T) {
	c, err := NewContract("b1", "p1", iso, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var responses []time.Duration
	var now time.Duration
	k, err := NewKeeper(c, nil, RespondStopVMs, func(Response) error { responses = append(responses, now); return nil })
	if err != nil {
		t.Fatal(err)
	}
	grant := func(at time.Duration) { c.Granted(grantFor(c.Report(at, decision.SelfReport{}), true)) }
	grant(0)
	for now = 0; now <= 40*time.Second; now += time.Second {
		if _, err := k.Tick(now); err != nil {
			t.Fatal(err)
		}
		if now == 15*time.Second {
			grant(now)
		}
	}
	if len(responses) != 2 {
		t.Errorf("responses at %v, want two: one per isolation", responses)
	}
}
