package sim

import (
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Thirteenth adversarial review (attack13), against a3e9863.

// a13policy is the engine, noting what each term sent and heard.
type a13policy struct {
	*decision.Engine
	sent  []string // instances this term asked to evacuate
	heard []string // instances whose EvacuateResult reached this term
	// unasked: results that came while this term had sent no evacuation
	// of the instance, or more results than it sent calls
	unasked []decision.EvacuateResult
	results []decision.EvacuateResult
}

func (p *a13policy) Step(now time.Time, in decision.Input) {
	if r, ok := in.(decision.EvacuateResult); ok {
		p.heard, p.results = append(p.heard, r.Instance), append(p.results, r)
		if count(p.heard, r.Instance) > count(p.sent, r.Instance) {
			p.unasked = append(p.unasked, r)
		}
	}
	p.Engine.Step(now, in)
}

func (p *a13policy) Tick(now time.Time) decision.Ready {
	rd := p.Engine.Tick(now)
	for _, a := range rd.Actions {
		if a.Kind == decision.ActEvacuate {
			p.sent = append(p.sent, a.Instances...)
		}
	}
	return rd
}

// Finding C (the simulator is optimistic about failovers; it hides
// attack13 B): an evacuation's result outlives the leader that sent it.
// evacuate schedules Nova's accept EvacuateLatency later; that callback,
// run for a dead leader (current false), calls novaEvacuate, which starts
// the rebuild poll with c.later: the poll takes the generation of the
// moment it is scheduled, the successor's, and its result is stepped into
// the successor as if its own executor had sent the call. A real
// executor's poll dies with its process: the successor must learn from
// its own calls and reads. With it, a successor that never sent (or
// re-sent) an evacuation learns it moved: the schedule of attack13 B
// (decision) passes in the simulator for that reason alone.
//
// cmp1 loses power; it is fenced and its instances' evacuations go out,
// Nova accepting them 20 s later; the leader is killed 1 s after the
// evacuation. The successor restores the incident and, before it evacuates
// anything itself (its first Nova read has not come), hears the rebuild
// results of its predecessor's calls.
//
// Fix: run poll (and every continuation of an action) under the
// generation of the leader that sent the action (laterGen with the gen
// captured in evacuate), so that only that leader hears its result.
func TestAttack13APredecessorsEvacuationResultReachesTheSuccessor(t *testing.T) {
	w, err := NewWorld(Config{Hosts: 4, Instances: 8, ReportInterval: 10 * time.Second, ServiceDown: 60 * time.Second, EvacuateLatency: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var terms []*a13policy
	c := NewController(w, func() Policy {
		e, err := decision.New(decision.DefaultConfig())
		if err != nil {
			panic(err)
		}
		p := &a13policy{Engine: e}
		terms = append(terms, p)
		return p
	})
	killed := false
	evacAt := time.Duration(-1)
	Run(w, c, 120*time.Second, func(now time.Duration) {
		if now == 20*time.Second {
			w.PowerOff(w.Host("cmp1"), "test: power loss")
		}
		if evacAt < 0 && len(terms) > 0 && len(terms[0].sent) > 0 {
			evacAt = now
		}
		if !killed && evacAt >= 0 && now >= evacAt+time.Second {
			killed = true
			c.KillLeader()
		}
	})
	if len(terms) < 2 || evacAt < 0 {
		t.Fatalf("setup: want an evacuation and a failover, got %d terms, evacuation at %v", len(terms), evacAt)
	}
	for i, p := range terms[1:] {
		if len(p.unasked) > 0 {
			t.Errorf("term %d heard more evacuation results than it sent calls (its predecessor's, sent at %v, among them): it sent %v, heard %v; results %+v", i+2, evacAt, p.sent, p.heard, p.results)
		}
	}
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
