package decision

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// What the executor says a host's fences did travels with the host: a
// failed level's records (a blocklist added half way) and the verified
// level's are renewed together, a renewal's records replace those it was
// sent with, and the rejoin's unfence lifts them all.
func TestFenceRecordsAreRenewedAndLifted(t *testing.T) {
	cfg := autoRejoin()
	cfg.FenceLevels = 2
	cfg.FenceRenew = time.Minute
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"cmp1", "cmp2", "cmp3"}
	for _, h := range hosts {
		e.AddHost(HostInfo{Name: h})
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Step(epoch, Leadership{Leader: true, Token: 1})
	rec := func(s string) json.RawMessage { return json.RawMessage(`{"r":"` + s + `"}`) }
	var renews, unfences []Action
	var last Record
	for sec := 1; sec < 400; sec++ {
		now := epoch.Add(time.Duration(sec) * time.Second)
		counters := map[string]uint64{}
		for _, h := range hosts {
			counters[h] = 1
			back := sec >= 300
			if h == "cmp1" && sec >= 5 && !back {
				continue
			}
			counters[h] = uint64(sec)
			boot := "b1"
			if h == "cmp1" && back {
				boot = "b2"
			}
			for _, n := range cfg.Networks {
				e.Step(now, AgentReport{Host: h, Network: n, Self: SelfReport{BootID: boot, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}})
			}
			e.Step(now, NovaService{Host: h, Up: true})
		}
		e.Step(now, StorageHeartbeats{OK: true, Counters: counters})
		rd := e.Tick(now)
		for _, r := range rd.Records {
			if r.Host == "cmp1" {
				last = r
			}
		}
		e.Step(now, Persisted{Ready: rd.Seq})
		for _, a := range rd.Actions {
			if a.Host != "cmp1" {
				continue
			}
			switch a.Kind {
			case ActFence:
				if a.Level == 1 {
					e.Step(now, FenceResult{Host: a.Host, Level: 1, Method: "ceph-blocklist+ipmi", Err: "BMC unreachable", Records: []json.RawMessage{rec("half")}})
				} else {
					e.Step(now, FenceResult{Host: a.Host, Level: 2, Method: "ceph-blocklist", OK: true, Proof: "listed", Records: []json.RawMessage{rec("l2")}})
				}
			case ActRenewFence:
				renews = append(renews, a)
				got := []json.RawMessage{rec("half"), rec("l2-renewed")}
				if !slices.ContainsFunc(a.Records, func(r json.RawMessage) bool { return string(r) == string(rec("l2")) }) {
					got = nil // records unchanged
				}
				e.Step(now, RenewResult{Host: a.Host, OK: true, Records: got})
			case ActUnfence:
				unfences = append(unfences, a)
				e.Step(now, UnfenceResult{Host: a.Host, OK: true})
			}
		}
	}
	str := func(rs []json.RawMessage) []string {
		var out []string
		for _, r := range rs {
			out = append(out, string(r))
		}
		return out
	}
	if len(renews) < 2 {
		t.Fatalf("renewals = %d, want at least 2", len(renews))
	}
	if got, want := str(renews[0].Records), []string{`{"r":"half"}`, `{"r":"l2"}`}; !slices.Equal(got, want) {
		t.Errorf("first renewal carried %v, want %v (both levels' records)", got, want)
	}
	if got, want := str(renews[1].Records), []string{`{"r":"half"}`, `{"r":"l2-renewed"}`}; !slices.Equal(got, want) {
		t.Errorf("second renewal carried %v, want %v (the first's result in place of what it renewed)", got, want)
	}
	if len(unfences) != 1 {
		t.Fatalf("unfences = %+v, want one at the rejoin", unfences)
	}
	if got, want := str(unfences[0].Records), []string{`{"r":"half"}`, `{"r":"l2-renewed"}`}; !slices.Equal(got, want) {
		t.Errorf("the rejoin's unfence carried %v, want %v", got, want)
	}
	if len(last.FenceRecords)+len(last.LiftRecords) != 0 || last.Phase != "" {
		t.Errorf("cmp1's last record = %+v, want closed with nothing left to lift", last)
	}
}
