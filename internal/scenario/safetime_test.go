package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/sim"
)

// The safe-time floor is not bureaucracy: with the same watchdog timings
// (isolation 10 s, watchdog 10 s), assuming the host dead after 5 s starts
// its guests elsewhere while they still run and write. The scenario parser
// refuses that value; forcing it into the engine shows why.
func TestSafeTimeFloorIsWhatPreventsTwoWriters(t *testing.T) {
	// cmp1 hangs for 9 s behind an unreachable BMC: vigil cannot fence it,
	// and the hang clears before its grant, let alone its watchdog, ends.
	s, err := Parse([]byte(`
name: hang-shorter-than-the-watchdog
cluster:
  hosts: 4
  instances: 8
  fencing: [ipmi]
  watchdog: {isolation_timeout: 10s, watchdog_timeout: 10s}
vigil:
  self_fence: {assume_dead_after: 46s}
faults:
  - {at: 10s, bmc: unreachable, host: cmp1}
  - {at: 20s, hang: host, host: cmp1, for: 9s}
run: 120s
expect: {double_writers: 0, lost_instances: 0, evacuated: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	safe, err := s.Run(PolicyVigil)
	if err != nil || !safe.Pass() {
		t.Fatalf("at the safe time: %v\n%s", err, safe.Explain())
	}

	unsafe := *s
	o := *s.Vigil
	o.SelfFence.AssumeDeadAfter = Duration(5 * time.Second)
	unsafe.Vigil = &o
	if _, err := unsafe.DecisionConfig(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "self_fence.assume_dead_after") {
		t.Fatalf("5s below the safe minimum: DecisionConfig() = %v, want an error naming self_fence.assume_dead_after", err)
	}
	cfg, _ := s.DecisionConfig()
	cfg.SelfFenceAfter = 5 * time.Second // what validation forbids
	r, err := s.run(PolicyVigil, func() sim.Policy {
		e, err := decision.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.DoubleWriters) == 0 {
		t.Errorf("an unsafe self-fence time produced no double writer: the test no longer shows why the floor exists\n%s", r.FormatTimeline())
	}
}
