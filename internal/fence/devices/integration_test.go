package devices_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
)

// Level 1 has the wrong IPMI password: it fails with ErrAuth at once, without
// its retries, and level 2 (fence_ipmilan with the right one) fences host0
// for real. Status then reads off, and On brings the host back.
func TestIntegrationWrongPasswordFallsToNextLevel(t *testing.T) {
	integration(t)
	r := newRig(t)
	wrong := strings.TrimSuffix(r.ipmiDev(t, 0, false), "}") + ", retries: 2}"
	cfg, _ := r.config(t, map[int][]string{0: {"[" + wrong + "]", "[" + r.agentDev(t, 0) + "]"}})
	topo := r.topology(t, cfg, 0, true)
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()

	var steps stepLog
	out, err := topo.Off(ctx, steps.report)
	t.Logf("Off steps:\n%s", &steps)
	if err != nil {
		t.Fatalf("Off() = %v, want level 2 to fence", err)
	}
	if out.Level != 2 {
		t.Errorf("fenced at level %d, want 2", out.Level)
	}
	r.checkFenced(t, 0)
	var level1 []fence.Step
	for _, s := range steps.steps {
		if s.Level == 1 {
			level1 = append(level1, s)
		}
	}
	if len(level1) != 1 || !errors.Is(level1[0].Err, fence.ErrAuth) {
		t.Errorf("level 1 steps = %+v, want one off failing with ErrAuth (a wrong password is not retried)", level1)
	}
	if s, ok := steps.find(2, "probe"); !ok || s.Err != nil {
		t.Errorf("level 2 probe = %+v (found %t), want the host silent to the peer", s, ok)
	}
	if got := out.Summary(); !strings.Contains(got, "fence-agent: fence_ipmilan action=off exited 0") || !strings.Contains(got, "silent to ping") {
		t.Errorf("proofs = %q, want fence_ipmilan's and the probe's", got)
	}

	health := topo.Check(ctx)
	if len(health) != 2 || !errors.Is(health[0].Err, fence.ErrAuth) || health[1].Err != nil || health[1].Status != fence.StatusOff {
		t.Errorf("Check() = %+v, want level 1 ErrAuth and level 2 off", health)
	}

	steps = stepLog{}
	err = topo.On(ctx, steps.report)
	t.Logf("On steps:\n%s", &steps)
	// On lifts every level; the device with the wrong password fails its
	// own On, and says so, but the host is back through level 2.
	if !errors.Is(err, fence.ErrAuth) {
		t.Errorf("On() = %v, want level 1's ErrAuth reported", err)
	}
	if s, ok := steps.find(2, "on"); !ok || s.Err != nil {
		t.Errorf("level 2 on = %+v (found %t), want success", s, ok)
	}
	r.waitOn(t, 0)
}

// A Redfish BMC that says "Off" while the host runs: the driver believes it
// (no reset is sent), the ping probe from the peer still gets replies on
// the storage network, so level 1 fails with ErrNotVerified and level 2
// (IPMI) fences for real.
func TestIntegrationLyingBMCIsCaughtByProbe(t *testing.T) {
	integration(t)
	r := newRig(t)
	cfg, _ := r.config(t, map[int][]string{0: {"[" + r.redfishDev(t, "30s", true) + "]", "[" + r.ipmiDev(t, 0, true) + "]"}})
	topo := r.topology(t, cfg, 0, true)
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	r.redfish.SetLie(redfishbmc.SayOff)

	var steps stepLog
	out, err := topo.Off(ctx, steps.report)
	t.Logf("Off steps:\n%s", &steps)
	if err != nil {
		t.Fatalf("Off() = %v, want level 2 to fence", err)
	}
	if out.Level != 2 {
		t.Errorf("fenced at level %d, want 2", out.Level)
	}
	if n := r.hooks.Load(); n != 0 {
		t.Errorf("the lying BMC changed power %d times, want 0", n)
	}
	if s, ok := steps.find(1, "off"); !ok || s.Err != nil {
		t.Errorf("level 1 off = %+v (found %t), want the BMC's (false) success", s, ok)
	}
	probe, ok := steps.find(1, "probe")
	storage := r.lab.Addr(0, "storage").String()
	if !ok || !errors.Is(probe.Err, fence.ErrNotVerified) || !strings.Contains(probe.Err.Error(), storage+" replies to ping") {
		t.Errorf("level 1 probe = %+v (found %t), want ErrNotVerified saying %s still replies", probe, ok, storage)
	}
	if s, ok := steps.find(2, "probe"); !ok || s.Err != nil {
		t.Errorf("level 2 probe = %+v (found %t), want the host silent", s, ok)
	}
	r.checkFenced(t, 0)

	r.redfish.SetLie(redfishbmc.Truthful)
	if err := topo.On(ctx, nil); err != nil {
		t.Errorf("On() = %v", err)
	}
	r.waitOn(t, 0)
}

// Unreachable BMCs fail with ErrUnreachable within the device's timeout;
// when every level fails the topology says ErrAllLevelsFailed and the host
// keeps running.
func TestIntegrationUnreachableBMCs(t *testing.T) {
	integration(t)
	r := newRig(t)
	const timeout = 8 * time.Second
	cfg, _ := r.config(t, map[int][]string{0: {"[" + deadIPMIDev(t, r, "8s") + "]", "[" + r.redfishDev(t, "8s", true) + "]"}})
	topo := r.topology(t, cfg, 0, true)
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()

	for _, reach := range []struct {
		name string
		r    redfishbmc.Reachability
	}{{"redfish refuses connections", redfishbmc.Down}, {"redfish never answers", redfishbmc.Silent}} {
		t.Run(reach.name, func(t *testing.T) {
			if err := r.redfish.SetReachability(reach.r); err != nil {
				t.Fatal(err)
			}
			var steps stepLog
			start := time.Now()
			_, err := topo.Off(ctx, steps.report)
			t.Logf("Off() after %v = %v; steps:\n%s", time.Since(start), err, &steps)
			if !errors.Is(err, fence.ErrAllLevelsFailed) || !errors.Is(err, fence.ErrUnreachable) {
				t.Errorf("Off() = %v, want ErrAllLevelsFailed wrapping ErrUnreachable", err)
			}
			for _, s := range steps.steps {
				if !errors.Is(s.Err, fence.ErrUnreachable) || s.Took > timeout+2*time.Second {
					t.Errorf("level %d %s after %v: %v; want ErrUnreachable within the %v device timeout", s.Level, s.Op, s.Took, s.Err, timeout)
				}
			}
			if len(steps.steps) != 2 {
				t.Errorf("%d steps, want one off per level and no probe", len(steps.steps))
			}
			for _, h := range topo.Check(ctx) {
				if !errors.Is(h.Err, fence.ErrUnreachable) || h.Took > timeout+2*time.Second {
					t.Errorf("Check level %d after %v: %v; want ErrUnreachable within %v", h.Level, h.Took, h.Err, timeout)
				}
			}
			if on, err := r.ipmi[0].PoweredOn(ctx); err != nil || !on {
				t.Errorf("host0 powered on = %t, %v; want untouched", on, err)
			}
		})
	}
	if n := r.hooks.Load(); n != 0 {
		t.Errorf("the unreachable Redfish BMC changed power %d times", n)
	}
}
