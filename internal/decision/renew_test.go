package decision

import (
	"slices"
	"testing"
	"time"
)

// renewWorld runs cmp1 dead (fenced by method on its first fence action)
// next to a healthy cmp2 for d, handing each renew-fence action to reply,
// and returns the renewals it saw and every alert code.
func renewWorld(t *testing.T, method string, d time.Duration, maintAt time.Duration, reply func(n int) RenewResult) (renewals []time.Duration, alerts []string) {
	t.Helper()
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.AddHost(HostInfo{Name: "cmp1"})
	e.AddHost(HostInfo{Name: "cmp2"})
	e.AddHost(HostInfo{Name: "cmp3"})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(t0, Leadership{Leader: true, Token: 1})
	for at := time.Duration(0); at < d; at += 500 * time.Millisecond {
		now := t0.Add(at)
		for _, hn := range []string{"cmp1", "cmp2", "cmp3"} {
			if hn == "cmp1" && at > 15*time.Second {
				continue // cmp1 dies
			}
			for _, net := range []string{"mgmt", "storage"} {
				e.Step(now, AgentReport{Host: hn, Network: net, Self: SelfReport{BootID: "b", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": 1, "cmp2": uint64(at), "cmp3": uint64(at)}})
		if maintAt > 0 && at == maintAt {
			e.Step(now, SetMaintenance{Host: "cmp1", On: true})
		}
		for _, a := range e.Tick(now).Actions {
			switch a.Kind {
			case ActFence:
				e.Step(now, FenceResult{Host: a.Host, Level: a.Level, OK: true, Method: method, Proof: "verified"})
			case ActRenewFence:
				renewals = append(renewals, at)
				e.Step(now, reply(len(renewals)))
			case ActAlert:
				alerts = append(alerts, a.Code)
			}
		}
	}
	return renewals, alerts
}

// An incident's blocklist fence is renewed every fence_renew, from the
// fence on, for as long as the incident holds it, in maintenance too; a
// failed renewal is retried at fence_retry and alerted, and a lapse found
// is an alarm. A power fence needs no renewal. Before the engine emitted
// renew-fence nothing renewed the entries, and a blocked host came back
// writing when they expired (docs/known-limits, now a scenario).
func TestBlocklistFenceRenewed(t *testing.T) {
	ok := func(int) RenewResult { return RenewResult{Host: "cmp1", OK: true} }
	r, _ := renewWorld(t, "ceph-blocklist", 35*time.Minute, 0, ok)
	if len(r) != 3 || r[1]-r[0] != 10*time.Minute || r[0] > 11*time.Minute {
		t.Fatalf("renewals at %v, want three, 10m apart, the first 10m after the fence", r)
	}
	if r, _ := renewWorld(t, "ipmi", 35*time.Minute, 0, ok); len(r) != 0 {
		t.Fatalf("a power fence was renewed at %v", r)
	}
	if r, _ := renewWorld(t, "ceph-blocklist", 25*time.Minute, 5*time.Minute, ok); len(r) != 2 {
		t.Fatalf("in maintenance the fence was renewed at %v, want twice in 25m", r)
	}
	failOnce := func(n int) RenewResult {
		if n == 1 {
			return RenewResult{Host: "cmp1", Err: "ceph monitors unreachable"}
		}
		return RenewResult{Host: "cmp1", OK: true}
	}
	r, alerts := renewWorld(t, "ceph-blocklist", 12*time.Minute, 0, failOnce)
	if len(r) != 2 || r[1]-r[0] != 5*time.Second || !slices.Contains(alerts, "fence-renew-failed") {
		t.Fatalf("a failed renewal: renewals %v alerts %v, want a retry 5s later and fence-renew-failed", r, alerts)
	}
	lapsed := func(int) RenewResult {
		return RenewResult{Host: "cmp1", OK: true, Lapsed: true, Err: "no entry for 10.0.1.1"}
	}
	if _, alerts := renewWorld(t, "ceph-blocklist", 11*time.Minute, 0, lapsed); !slices.Contains(alerts, "fence-lapsed") {
		t.Fatalf("a lapsed fence found: alerts %v, want fence-lapsed", alerts)
	}
}
