package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ha/vigil/internal/fence"
)

// attack21: Check, the fence re-read before each evacuate call, must not
// say "held" where the engine, reading the same devices, says the fence no
// longer holds.
//
// A host with two power supplies on two PDUs is fenced by a level of two
// power members (every member of a level must fence and verify). Someone
// switches one outlet back on: the host runs on that feed. PowerWatch's
// readPower reads the level "on" (one live feed runs the host), and the
// engine's fenceUndone takes a BMC reading on after the fence as the fence
// undone. Check, right before the evacuate call, finds the other outlet off
// and answers held: the evacuation goes out while the host runs.
func TestAttack21CheckDualFeedOneOutletOnIsNotHeld(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	dev := func(name string, st fence.Status, err error) gated {
		return gated{name: name, mu: &mu, calls: &calls, status: st, err: err}
	}
	pdu := func(name string, d fence.Device) fence.Member {
		return fence.Member{Name: name, Driver: "fence-agent", Device: d, Power: true}
	}
	down := fmt.Errorf("no answer: %w", fence.ErrUnreachable)
	for _, tc := range []struct {
		name string
		a, b gated
	}{
		{"outlet B switched on again", dev("a", fence.StatusOff, nil), dev("b", fence.StatusOn, nil)},
		{"outlet A switched on again", dev("a", fence.StatusOn, nil), dev("b", fence.StatusOff, nil)},
		{"outlet B unreadable", dev("a", fence.StatusOff, nil), dev("b", 0, down)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level := []fence.Member{pdu("fence_apc pdu-a", tc.a), pdu("fence_apc pdu-b", tc.b)}
			ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{level}}}
			used := drivers(level) // the method the fence reported: "fence-agent+fence-agent"
			power := readPower(context.Background(), level, nil)
			held, lifted, why := Check(context.Background(), ts, "cmp1", used)
			t.Logf("PowerWatch reads the level %s; Check: held %v lifted %v (%s)", power, held, lifted, why)
			if held {
				t.Errorf("Check says the %s fence holds (%s) while PowerWatch reads the same level %s: an evacuation would go out while a feed runs the host", used, why, power)
			}
		})
	}
}

// The same for a level of a power fence and a blocklist: the engine takes
// "ipmi+ceph-blocklist" for a power fence (powerFence), so the BMC reading
// on after it is the fence undone (fenceUndone); Check finds the blocklist
// entry in place and answers held.
func TestAttack21CheckPowerPlusBlocklistBMCOnIsNotHeld(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	bmc := gated{name: "bmc", mu: &mu, calls: &calls, status: fence.StatusOn}
	bl := gated{name: "bl", mu: &mu, calls: &calls, status: fence.StatusOff}
	level := []fence.Member{power("ipmi 10.0.0.11", bmc), {Name: "ceph-blocklist", Driver: "ceph-blocklist", Device: bl, Storage: true}}
	ts := topos{"cmp1": {Host: "cmp1", Levels: [][]fence.Member{level}}}
	used := drivers(level)
	held, _, why := Check(context.Background(), ts, "cmp1", used)
	if held && !strings.Contains(why, "ipmi") {
		t.Errorf("Check says the %s fence holds (%s) while the BMC reads the power on: the engine's rule for this method calls that the fence undone", used, why)
	}
}
