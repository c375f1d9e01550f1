package executor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// gated is an in-memory fence device whose Off waits until the test opens
// its gate, and which logs every call: the dispatcher's ordering is what
// is under test, not a driver.
type gated struct {
	name   string
	gate   chan struct{}
	mu     *sync.Mutex
	calls  *[]string
	status fence.Status
	err    error
}

func (g gated) note(op string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	*g.calls = append(*g.calls, g.name+" "+op)
}
func (g gated) Off(ctx context.Context) (fence.Proof, error) {
	g.note("off")
	if g.gate != nil {
		<-g.gate
	}
	return fence.Proof{Driver: "ipmi", Detail: "verified off"}, nil
}
func (g gated) On(context.Context) error { g.note("on"); return nil }
func (g gated) Status(context.Context) (fence.Status, error) {
	return g.status, g.err
}

type results struct {
	mu  sync.Mutex
	ins []decision.Input
	got chan struct{}
}

func newResults() *results { return &results{got: make(chan struct{}, 64)} }

func (r *results) add(in decision.Input) {
	r.mu.Lock()
	r.ins = append(r.ins, in)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *results) all() []decision.Input {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ins)
}

func power(name string, dev fence.Device) fence.Member {
	return fence.Member{Name: name, Driver: "ipmi", Device: dev, Power: true}
}

// A host's actions run in the order sent, whatever their kind: the unfence
// and the second fence wait for the first fence, however long its BMC takes.
// Another host's fence does not wait.
func TestDispatchRunsAHostsActionsInOrder(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	gate := make(chan struct{})
	slow := gated{name: "cmp1", gate: gate, mu: &mu, calls: &calls}
	other := gated{name: "cmp2", mu: &mu, calls: &calls}
	ts := topos{
		"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi cmp1", slow)}}},
		"cmp2": {Host: "cmp2", Levels: [][]fence.Member{{power("ipmi cmp2", other)}}},
	}
	res := newResults()
	d := &Dispatch{Topos: ts, Report: res.add}
	ctx := context.Background()
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1})
	d.Execute(ctx, decision.Action{Kind: decision.ActUnfence, Host: "cmp1", Unmoved: true})
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp2", Level: 1})
	<-res.got // cmp2's fence, while cmp1's still waits on its BMC
	if r := res.all(); len(r) != 1 || r[0].(decision.FenceResult).Host != "cmp2" || !r[0].(decision.FenceResult).OK {
		t.Fatalf("before cmp1's BMC answers, results %+v; want cmp2's fence alone, verified", r)
	}
	close(gate)
	<-res.got
	<-res.got
	d.Wait()
	r := res.all()
	if f, ok := r[1].(decision.FenceResult); !ok || f.Host != "cmp1" || !f.OK {
		t.Fatalf("second result %+v; want cmp1's fence, verified", r[1])
	}
	if u, ok := r[2].(decision.UnfenceResult); !ok || !u.OK {
		t.Fatalf("third result %+v; want cmp1's unfence, after its fence", r[2])
	}
	var cmp1 []string
	for _, c := range calls {
		if strings.HasPrefix(c, "cmp1 ") {
			cmp1 = append(cmp1, c)
		}
	}
	if want := []string{"cmp1 off", "cmp1 on"}; !slices.Equal(cmp1, want) {
		t.Fatalf("cmp1's device calls %v, want %v", cmp1, want)
	}
}

// A cancel drops the host's fence still waiting its turn, reported
// cancelled; the fence under way keeps its own result.
func TestDispatchCancelDropsOnlyAWaitingFence(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	gate := make(chan struct{})
	dev := gated{name: "cmp1", gate: gate, mu: &mu, calls: &calls}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi", dev)}, {power("pdu", dev)}}}}
	res := newResults()
	d := &Dispatch{Topos: ts, Report: res.add}
	ctx := context.Background()
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1})
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 2})
	d.Execute(ctx, decision.Action{Kind: decision.ActCancelFence, Host: "cmp1"})
	<-res.got
	if r := res.all(); len(r) != 1 || r[0].(decision.FenceResult).Level != 2 || r[0].(decision.FenceResult).Aborted != decision.AbortCancelled {
		t.Fatalf("after the cancel, results %+v; want level 2 reported cancelled", r)
	}
	close(gate)
	<-res.got
	d.Wait()
	if f := res.all()[1].(decision.FenceResult); f.Level != 1 || !f.OK {
		t.Fatalf("the fence under way reported %+v; want its own result, verified", f)
	}
	if len(calls) != 1 {
		t.Fatalf("device calls %v; the cancelled level must never reach its device", calls)
	}
}

type novaLog struct {
	mu   sync.Mutex
	acts []decision.Action
}

func (n *novaLog) Do(_ context.Context, a decision.Action) []decision.Input {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.acts = append(n.acts, a)
	var out []decision.Input
	for _, id := range a.Instances {
		out = append(out, decision.EvacuateResult{Host: a.Host, Instance: id, Accepted: true})
	}
	return out
}

// Shadow mode touches nothing: no device, no Nova call, no result; alerts
// still go out, so an operator rolling vigil out sees what it would do.
func TestDispatchShadowTouchesNothing(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	dev := gated{name: "cmp1", mu: &mu, calls: &calls}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi", dev)}}}}
	res := newResults()
	nv := &novaLog{}
	var alerts []string
	d := &Dispatch{Topos: ts, Nova: nv, Report: res.add, Shadow: true, Alert: func(a decision.Action) { alerts = append(alerts, a.Code) }}
	ctx := context.Background()
	for _, a := range []decision.Action{
		{Kind: decision.ActFence, Host: "cmp1", Level: 1},
		{Kind: decision.ActForceDown, Host: "cmp1"},
		{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"i1"}},
		{Kind: decision.ActAlert, Host: "cmp1", Code: "fence-failed"},
	} {
		d.Execute(ctx, a)
	}
	d.Wait()
	if len(calls) != 0 || len(nv.acts) != 0 || len(res.all()) != 0 {
		t.Fatalf("shadow mode: device calls %v, Nova calls %v, results %v; want none", calls, nv.acts, res.all())
	}
	if !slices.Equal(alerts, []string{"fence-failed"}) {
		t.Fatalf("shadow mode alerts %v, want the fence-failed alert", alerts)
	}
}

// Nova's actions go to Nova with their results reported; without a Nova
// client an evacuation reports each instance failed and alerts, never
// silence (the engine retries and tells the operator).
func TestDispatchNovaActions(t *testing.T) {
	res := newResults()
	nv := &novaLog{}
	d := &Dispatch{Topos: topos{}, Nova: nv, Report: res.add}
	d.Execute(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"i1", "i2"}})
	d.Wait()
	if len(nv.acts) != 1 || len(res.all()) != 2 {
		t.Fatalf("Nova calls %v, results %v; want one evacuate, two results", nv.acts, res.all())
	}

	res = newResults()
	var alerts []decision.Action
	d = &Dispatch{Topos: topos{}, Report: res.add, Alert: func(a decision.Action) { alerts = append(alerts, a) }}
	d.Execute(context.Background(), decision.Action{Kind: decision.ActEvacuate, Host: "cmp1", Instances: []string{"i1"}})
	d.Wait()
	r := res.all()
	if len(r) != 1 || r[0].(decision.EvacuateResult).Err == "" || r[0].(decision.EvacuateResult).Accepted {
		t.Fatalf("no Nova client: results %+v; want i1 failed, not accepted", r)
	}
	if len(alerts) != 1 || alerts[0].Code != "no-nova" {
		t.Fatalf("no Nova client: alerts %+v; want one no-nova alert", alerts)
	}
}

// An action whose term ended is not carried out: the lease may be gone.
func TestDispatchEndedTermDoesNothing(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi", gated{name: "cmp1", mu: &mu, calls: &calls})}}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := newResults()
	d := &Dispatch{Topos: ts, Report: res.add}
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1})
	d.Wait()
	if len(calls) != 0 || len(res.all()) != 0 {
		t.Fatalf("after the term ended: device calls %v, results %v; want none", calls, res.all())
	}
}

// The re-read before each evacuate call: the level's devices all reading
// the fence in place hold it; one reading on lifts it; an unreadable one
// proves nothing; a judged fence has nothing to read.
func TestCheck(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	dev := func(st fence.Status, err error) gated {
		return gated{name: "x", mu: &mu, calls: &calls, status: st, err: err}
	}
	down := fmt.Errorf("no answer: %w", fence.ErrUnreachable)
	for _, tc := range []struct {
		name         string
		a, b         gated
		used         string
		held, lifted bool
		why          string
	}{
		{"both off", dev(fence.StatusOff, nil), dev(fence.StatusOff, nil), "ipmi", true, false, "read the fence in place"},
		// Every member of the level had to fence: one reading on runs
		// the host (attack21, two power feeds).
		{"one off", dev(fence.StatusOn, nil), dev(fence.StatusOff, nil), "ipmi", false, true, "no longer holds"},
		{"one off, one unreadable", dev(fence.StatusOff, nil), dev(0, down), "ipmi", false, false, "unreadable"},
		{"one without status (kdump)", dev(fence.StatusUnknown, nil), dev(fence.StatusOff, nil), "ipmi", true, false, "read the fence in place"},
		{"both on", dev(fence.StatusOn, nil), dev(fence.StatusOn, nil), "ipmi", false, true, "no longer holds"},
		{"one unreadable", dev(fence.StatusOn, nil), dev(0, down), "ipmi", false, false, "unreadable"},
		{"other method", dev(fence.StatusOn, nil), dev(fence.StatusOn, nil), "ceph-blocklist", false, false, "no device of the topology"},
		{"operator", dev(fence.StatusOn, nil), dev(fence.StatusOn, nil), "operator", true, false, "judged"},
	} {
		ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("a", tc.a), power("b", tc.b)}}}}
		held, lifted, why := Check(context.Background(), ts, "cmp1", tc.used)
		if held != tc.held || lifted != tc.lifted || !strings.Contains(why, tc.why) {
			t.Errorf("%s: held %v lifted %v (%s); want held %v lifted %v, %q", tc.name, held, lifted, why, tc.held, tc.lifted, tc.why)
		}
	}
	if _, _, why := Check(context.Background(), topos{}, "cmp9", "ipmi"); !strings.Contains(why, "unreadable") {
		t.Errorf("a host without topology: %q, want unreadable", why)
	}
}

// Nova's lane waits for the device actions sent before it: a re-enable
// does not overtake the unfence before it, however long the BMC takes.
func TestDispatchReEnableWaitsForTheUnfenceBeforeIt(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	gate := make(chan struct{})
	dev := gated{name: "cmp1", gate: gate, mu: &mu, calls: &calls}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi", dev)}}}}
	res := newResults()
	nv := &novaLog{}
	d := &Dispatch{Topos: ts, Nova: nv, Report: res.add}
	ctx := context.Background()
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1}) // holds the lane until the gate opens
	d.Execute(ctx, decision.Action{Kind: decision.ActUnfence, Host: "cmp1", Unmoved: true})
	d.Execute(ctx, decision.Action{Kind: decision.ActReEnable, Host: "cmp1"})
	time.Sleep(50 * time.Millisecond) // a chance for a wrong order to show
	nv.mu.Lock()
	early := len(nv.acts)
	nv.mu.Unlock()
	close(gate)
	d.Wait()
	if early != 0 {
		t.Fatalf("the re-enable went to Nova while the fence and unfence before it waited on the BMC")
	}
	if len(nv.acts) != 1 || !slices.Equal(calls, []string{"cmp1 off", "cmp1 on"}) {
		t.Fatalf("Nova calls %v, device calls %v; want the fence, the unfence, then the re-enable", nv.acts, calls)
	}
}

// The runner calls Execute on its own goroutine and Report is its Submit,
// which blocks while the runner's queue is full: a result reported from
// inside Execute waits for the one goroutine that would drain the queue,
// and the leader stops for good (attack22's finding). The fence a cancel
// drops is reported from elsewhere, so Execute returns however Report
// blocks.
func TestDispatchCancelNeverReportsOnTheCallersGoroutine(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	gate := make(chan struct{})
	dev := gated{name: "cmp1", gate: gate, mu: &mu, calls: &calls}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{{power("ipmi", dev)}, {power("pdu", dev)}}}}
	full := make(chan decision.Input) // the runner's queue, full: nobody reads it until Execute returns
	d := &Dispatch{Topos: ts, Report: func(in decision.Input) { full <- in }}
	ctx := context.Background()
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 1})
	d.Execute(ctx, decision.Action{Kind: decision.ActFence, Host: "cmp1", Level: 2})
	returned := make(chan struct{})
	go func() {
		d.Execute(ctx, decision.Action{Kind: decision.ActCancelFence, Host: "cmp1"})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("DEADLOCK: Execute(cancel-fence) waits on Report, which waits for the caller to drain its queue")
	}
	f := (<-full).(decision.FenceResult)
	if f.Level != 2 || f.Aborted != decision.AbortCancelled {
		t.Fatalf("first result %+v; want level 2 reported cancelled", f)
	}
	close(gate)
	if f := (<-full).(decision.FenceResult); f.Level != 1 || !f.OK {
		t.Fatalf("the fence under way reported %+v; want its own result, verified", f)
	}
	d.Wait()
}
