package novalab_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/testbed/hostlab"
	"github.com/vigil-ha/vigil/internal/testbed/novalab"
	"github.com/vigil-ha/vigil/internal/testbed/openstack"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
	"github.com/vigil-ha/vigil/internal/testbed/vigilbin"
)

var shared = &openstack.Shared{}

func TestMain(m *testing.M) {
	shared.Enabled = tier.Enabled() && os.Getenv("VIGIL_OPENSTACK") == "1"
	shared.RunDir = os.Getenv("VIGIL_RUN")
	shared.Keep = os.Getenv("VIGIL_OPENSTACK_KEEP") == "1"
	code := shared.Close(m.Run())
	vigilbin.Remove()
	os.Exit(code)
}

// servers is how many servers each test boots on the host it fails.
const servers = 4

// failed is the lab's host that loses its power: host2 of host0..host2.
const failed = "host2"

// incident is a lab with servers on host2, a controller past its failover
// grace, every host healthy: ready for host2's power cut.
type incident struct {
	l   *novalab.Lab
	ids []string
	ctl *hostlab.Controller
}

func start(t *testing.T) *incident {
	t.Helper()
	tier.Integration(t, tier.Root)
	b := shared.Get(t)           // skips unless VIGIL_OPENSTACK=1
	tier.Integration(t, "socat") // the bed's relays (openstack packages); hostlab checks its own
	l := novalab.Start(t, b, novalab.Config{})
	t0 := time.Now()
	ids := l.Boot("vigil-e2e", servers, failed)
	t.Logf("%d servers ACTIVE on %s in %.1f s", len(ids), failed, time.Since(t0).Seconds())
	ctl := l.StartController()
	for _, h := range l.Hosts {
		l.WaitState(h, time.Minute, "healthy")
	}
	ctl.AfterGrace()
	return &incident{l: l, ids: ids, ctl: ctl}
}

// powerOff cuts host2's power through its BMC and returns when.
func (in *incident) powerOff(t *testing.T) time.Time {
	t.Helper()
	if err := in.l.BMCs[2].SetPower(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// waitMoved waits until every server is ACTIVE, with no task, on a host
// other than host2, and returns where each is and when the last got there.
func (in *incident) waitMoved(t *testing.T, within time.Duration) (map[string]string, time.Time) {
	t.Helper()
	ctx := context.Background()
	var where map[string]string
	tier.Eventually(t, within, "every server ACTIVE off "+failed, func() error {
		st, err := in.l.Servers(ctx, in.ids)
		if err != nil {
			return err
		}
		where = map[string]string{}
		var bad []string
		for _, id := range in.ids {
			s := st[id]
			if s.Status != "ACTIVE" || s.TaskState != "" || s.Host == "" || s.Host == failed {
				bad = append(bad, fmt.Sprintf("%s %s on %q (task %q)", id[:8], s.Status, s.Host, s.TaskState))
			}
			where[id] = s.Host
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	})
	return where, time.Now()
}

// checkOnce fails t unless Nova recorded exactly one evacuation of each
// server, from host2 to where it runs, and the controllers sent exactly one
// evacuate request for each that reached Nova.
func (in *incident) checkOnce(t *testing.T, where map[string]string) {
	t.Helper()
	migs, err := in.l.Evacuations(context.Background(), in.ids)
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]int{}
	for _, c := range in.l.Nova.Evacuations() {
		sent[c.Server]++
	}
	for _, id := range in.ids {
		ms := migs[id]
		if len(ms) != 1 {
			t.Errorf("%s: %d evacuation migrations in Nova, want exactly 1: %+v", id, len(ms), ms)
		} else if m := ms[0]; m.Source != failed || m.Dest != where[id] {
			t.Errorf("%s: evacuation %s → %s (%s), want %s → %s", id, m.Source, m.Dest, m.Status, failed, where[id])
		}
		if sent[id] != 1 {
			t.Errorf("%s: %d evacuate requests reached Nova, want exactly 1", id, sent[id])
		}
	}
}

// checkService fails t unless Nova has host2's nova-compute forced down,
// disabled by vigil, and down.
func (in *incident) checkService(t *testing.T) {
	t.Helper()
	s, err := in.l.Bed.Service(context.Background(), failed)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ForcedDown || s.Status != "disabled" || s.State != "down" || !strings.Contains(s.DisabledReason, "vigil") {
		t.Errorf("%s's service: forced_down %v, %s, %s (%q); want forced down, disabled by vigil, down", failed, s.ForcedDown, s.Status, s.State, s.DisabledReason)
	}
}

// phases are the moments of an incident, as the controller's events and
// the Nova proxy saw them.
type phases struct {
	failed, fenced, evacAction, forceDownCall, firstEvac time.Time
}

// phases finds them in evs (the leader's history of host2) and the
// proxy's calls since the power cut.
func (in *incident) phases(evs []api.Event, since time.Time) phases {
	var p phases
	for _, e := range evs {
		switch {
		case e.At.Before(since):
		case p.failed.IsZero() && e.Kind == api.KindTransition && e.To == "failed":
			p.failed = e.At
		case p.fenced.IsZero() && e.Kind == api.KindResult && strings.HasPrefix(e.Action, "fence(") && strings.HasPrefix(e.Reason, "verified"):
			p.fenced = e.At
		case p.evacAction.IsZero() && e.Kind == api.KindAction && strings.HasPrefix(e.Action, "evacuate("):
			p.evacAction = e.At
		}
	}
	for _, c := range in.l.Nova.Calls() {
		switch {
		case c.At.Before(since):
		case p.forceDownCall.IsZero() && c.Method == "PUT" && strings.Contains(c.Path, "/os-services/"):
			p.forceDownCall = c.At
		case p.firstEvac.IsZero() && c.Evacuate:
			p.firstEvac = c.At
		}
	}
	return p
}

func since(from, to time.Time) string {
	if to.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.2f s", to.Sub(from).Seconds())
}

// The first recovery on real parts end to end: host2, running 4 servers,
// loses its power (its BMC kills the agent and nova-compute and downs its
// links); vigil judges it failed, fences it through the BMC and verifies
// the fence, forces its nova-compute down, and evacuates every server
// through the real Nova API, each once; they run ACTIVE on the other hosts.
// The fence is verified before the first evacuate request leaves.
func TestPowerCutIsFencedAndEvacuatedThroughNova(t *testing.T) {
	in := start(t)
	off := in.powerOff(t)
	// Nova learns of the dead host only through missing heartbeats: right
	// after the power cut its service still looks up.
	if s, err := in.l.Bed.Service(context.Background(), failed); err != nil {
		t.Fatal(err)
	} else if s.State != "up" || s.ForcedDown {
		t.Errorf("%.2f s after the power cut Nova has %s's service %s (forced down %v): want still up", time.Since(off).Seconds(), failed, s.State, s.ForcedDown)
	}
	where, active := in.waitMoved(t, 2*time.Minute)
	recovered := in.l.WaitState(failed, 30*time.Second, "recovered")
	evs, err := in.l.History(failed)
	if err != nil {
		t.Fatal(err)
	}
	p := in.phases(evs, off)
	t.Logf("host2's events:\n%s", in.l.Events(failed))
	t.Logf("power off → failed %s, → fence verified %s, → force-down call %s, → first evacuate call %s (its action %s), → all %d ACTIVE elsewhere %s (polled), → vigil says recovered %s (polled); fence verified → all ACTIVE %s; placed: %v",
		since(off, p.failed), since(off, p.fenced), since(off, p.forceDownCall), since(off, p.firstEvac), since(off, p.evacAction),
		servers, since(off, active), since(off, recovered), since(p.fenced, active), where)

	switch {
	case p.failed.IsZero() || p.fenced.IsZero() || p.firstEvac.IsZero():
		t.Errorf("missing phase: failed %v, fence verified %v, first evacuate call %v", p.failed, p.fenced, p.firstEvac)
	case !p.fenced.Before(p.firstEvac) || !p.fenced.Before(p.evacAction):
		t.Errorf("fence verified at %v, not before the first evacuate (action %v, call %v)", p.fenced, p.evacAction, p.firstEvac)
	case p.forceDownCall.IsZero() || !p.forceDownCall.Before(p.firstEvac):
		t.Errorf("force-down call at %v, not before the first evacuate call %v", p.forceDownCall, p.firstEvac)
	}
	in.checkService(t)
	in.checkOnce(t, where)
	m, err := in.l.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`vigil_fences_total{method="ipmi",result="verified"} 1`, fmt.Sprintf(`vigil_evacuations_total{result="moved"} %d`, servers)} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics: no %s in\n%s", want, grep(m, "vigil_fences_total", "vigil_evacuations_total"))
		}
	}
}

// The controller is SIGKILLed in the middle of the recovery, at an exact
// request to Nova (the Nova proxy's hook, not a poll of the API), and
// started again on its embedded etcd's data directory: the restarted
// process is the new leader and must resume from the journal. Every server
// is evacuated exactly once (one evacuation migration each in Nova, one
// evacuate request each reaching Nova) and runs ACTIVE on another host.
//
//   - before the first evacuation: the fence is verified and the
//     force-down done; the first evacuate request arrives at the proxy,
//     which kills the controller and drops the request (and any other sent
//     with it). Nova was asked for no evacuation.
//   - between two evacuations: the first evacuate request goes to Nova;
//     when Nova has accepted it, and before its answer reaches the
//     controller, the proxy kills the controller; the others are dropped.
//     Nova has one evacuation, the dead leader never learned it was taken.
func TestControllerKilledMidRecovery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		passed int // evacuate requests that reach Nova before the kill
	}{
		{"before the first evacuation", 0},
		{"between two evacuations", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := start(t)
			var (
				mu       sync.Mutex
				passed   int
				killedAt time.Time
				once     sync.Once
				before   []api.Event // the dying leader's history of host2
				histErr  error
			)
			killed := make(chan struct{})
			kill := func() {
				once.Do(func() {
					// Its history first (its API dies with it); it can do
					// nothing to Nova meanwhile: its evacuations are held here.
					before, histErr = in.l.History(failed)
					in.ctl.Kill()
					killedAt = time.Now()
					close(killed)
				})
			}
			in.l.Nova.SetHook(novalab.Hook{
				Before: func(string) bool {
					mu.Lock()
					pass := passed < tc.passed
					if pass {
						passed++
					}
					mu.Unlock()
					if pass {
						return true
					}
					if tc.passed == 0 {
						kill()
					}
					<-killed
					return false
				},
				After: func(string, int) { kill() },
			})
			off := in.powerOff(t)
			select {
			case <-killed:
			case <-time.After(2 * time.Minute):
				t.Fatalf("no evacuate request within 2 minutes of the power cut; host2's events:\n%s", in.l.Events(failed))
			}
			in.l.Nova.SetHook(novalab.Hook{})
			if histErr != nil {
				t.Fatal(histErr)
			}
			p := in.phases(before, off)
			if p.fenced.IsZero() || p.forceDownCall.IsZero() || !p.fenced.Before(p.firstEvac) || !p.forceDownCall.Before(p.firstEvac) {
				t.Errorf("at the kill: fence verified %v, force-down call %v, first evacuate call %v: want both before it", p.fenced, p.forceDownCall, p.firstEvac)
			}

			// What Nova had when the controller died.
			ctx := context.Background()
			migs, err := in.l.Evacuations(ctx, in.ids)
			if err != nil {
				t.Fatal(err)
			}
			taken := 0
			for _, ms := range migs {
				taken += len(ms)
			}
			if taken != tc.passed {
				t.Fatalf("at the kill Nova has %d evacuations, want %d: %v", taken, tc.passed, migs)
			}
			evs := in.l.Nova.Evacuations()
			if len(evs) != tc.passed || tc.passed > 0 && evs[0].Status/100 != 2 {
				t.Fatalf("evacuate requests forwarded before the kill: %+v; want %d accepted", evs, tc.passed)
			}

			restart := time.Now()
			in.ctl = in.l.StartController()
			up := time.Now()
			where, active := in.waitMoved(t, 3*time.Minute)
			recovered := in.l.WaitState(failed, time.Minute, "recovered")
			leading := logTime(t, in.ctl.Log, "msg=leading")
			// The new leader's Nova reads (a services list starts each)
			// and its first evacuate request.
			var reads []time.Time
			var resumed time.Time
			for _, c := range in.l.Nova.Calls() {
				switch {
				case !c.At.After(restart):
				case c.Method == "GET" && strings.HasSuffix(c.Path, "/os-services"):
					reads = append(reads, c.At)
				case c.Evacuate && resumed.IsZero():
					resumed = c.At
				}
			}
			firstRead, readLeading := time.Time{}, time.Time{}
			for _, r := range reads {
				if firstRead.IsZero() {
					firstRead = r
				}
				if readLeading.IsZero() && r.After(leading) {
					readLeading = r
				}
			}
			t.Logf("host2's events on the new leader:\n%s", in.l.Events(failed))
			t.Logf("power off → failed %s, → fence verified %s, → force-down call %s, → first evacuate call (killed there) %s; kill took %s after it; restart → API answers %s, → first Nova read %s, → leading %s, → first Nova read while leading %s, → its first evacuate call %s, → all ACTIVE elsewhere %s, → recovered %s; placed: %v",
				since(off, p.failed), since(off, p.fenced), since(off, p.forceDownCall), since(off, p.firstEvac), since(p.firstEvac, killedAt),
				since(restart, up), since(restart, firstRead), since(restart, leading), since(restart, readLeading), since(restart, resumed), since(restart, active), since(restart, recovered), where)
			in.checkService(t)
			in.checkOnce(t, where)
			// A new leader reads Nova as soon as it leads: it recovers no
			// fenced host before it has the instance list of its own term.
			if readLeading.IsZero() || readLeading.Sub(leading) > 2*time.Second {
				t.Errorf("the new leader led at %s and first read Nova %s later: want within 2 s, not at the next controller.nova.every tick",
					leading.Format("15:04:05.000"), since(leading, readLeading))
			}

			// The new leader's own account: each server accounted for,
			// as moved by it or found moved already.
			hist, err := in.l.History(failed)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range in.ids {
				ok := slices.ContainsFunc(hist, func(e api.Event) bool {
					return e.Kind == api.KindResult && e.Action == "evacuate("+id+")" &&
						(strings.HasPrefix(e.Reason, "runs on ") || strings.HasPrefix(e.Reason, "already on "))
				})
				if !ok {
					t.Errorf("the new leader's events have no evacuation result for %s", id)
				}
			}
			if m, err := in.l.Metrics(); err == nil {
				t.Logf("the new leader's metrics:\n%s", grep(m, "vigil_evacuations_total{", "vigil_fences_total{"))
			}
		})
	}
}

// logTime is the time of the first line of a vigil log (slog's text
// format) that contains pat; zero if none.
func logTime(t *testing.T, path, pat string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, pat) || !strings.HasPrefix(line, "time=") {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, f); err == nil {
			return at
		}
	}
	return time.Time{}
}

func grep(s string, pats ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range pats {
			if strings.Contains(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
