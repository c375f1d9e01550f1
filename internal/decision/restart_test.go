package decision

import (
	"slices"
	"testing"
	"time"
)

// A guest vigil's own gate refused is restarted in place only where no
// second copy can run: the host alive with no incident, Nova placing the
// instance there with no task state, the guest not running.
func TestRestartRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  string
		running bool
		placed  bool
		want    bool
	}{
		{name: "error, not running", status: NovaError, placed: true, want: true},
		{name: "active, not running", status: NovaActive, placed: true, want: true},
		{name: "running again", status: NovaActive, placed: true, running: true},
		{name: "moved away", status: NovaActive},
		{name: "task in flight", status: "REBUILD", placed: true},
		{name: "stopped by its user", status: NovaShutoff, placed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			e.AddHost(HostInfo{Name: "cmp1"})
			e.Step(t0, Leadership{Leader: true})
			self := SelfReport{BootID: "cmp1-boot2", Agent: "a2", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Refused: []string{"vm1"}}
			if tc.running {
				self.Domains = []string{"vm1"}
			}
			nova := NovaService{Host: "cmp1", Up: true, Status: map[string]string{}}
			if tc.placed {
				nova.Instances, nova.Status["vm1"] = []string{"vm1"}, tc.status
			}
			var asked []time.Duration
			for s := 0; s <= 100; s++ { // the first ask waits restartSettle agent timeouts after the election
				now := t0.Add(time.Duration(s) * time.Second)
				for _, net := range e.cfg.Networks {
					r := AgentReport{Host: "cmp1", Network: net, Self: self}
					e.Step(now, r)
					// as the controller does: a restart needs grants that start guests
					if g, err := e.Grant(now, r); err == nil && !g.Ticket.IsZero() {
						self.Ticket = g.Ticket
					}
				}
				e.Step(now, nova)
				e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": uint64(s)}})
				rd := e.Tick(now)
				e.Step(now, Persisted{Ready: rd.Seq})
				for _, a := range rd.Actions {
					if a.Kind == ActRestart {
						if !slices.Equal(a.Instances, []string{"vm1"}) {
							t.Fatalf("restart %v, want [vm1]", a.Instances)
						}
						asked = append(asked, time.Duration(s)*time.Second)
					}
				}
			}
			if got := len(asked) > 0; got != tc.want {
				t.Fatalf("restart asked at %v; want asked: %v", asked, tc.want)
			}
			if tc.want && len(asked) != 3 {
				t.Fatalf("restart asked at %v; want once, then every %v while still refused", asked, restartRetry)
			}
		})
	}
}
