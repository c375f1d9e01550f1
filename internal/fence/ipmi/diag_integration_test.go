package ipmi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/hostileipmi"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// chassisControls are the Chassis Control requests (netFn 0x00, cmd 0x02)
// among what went through the relay.
func chassisControls(relay *hostileipmi.Relay) []hostileipmi.Request {
	var out []hostileipmi.Request
	for _, r := range relay.Requests() {
		if r.NetFn == 0x00 && r.Cmd == 0x02 {
			out = append(out, r)
		}
	}
	return out
}

// ipmi_sim (OpenIPMI's lanserv, 2.0.33 here) does not implement "pulse
// diagnostic interrupt": it answers chassis control 4 with completion code
// 0xCC, invalid data field. So the real BMC shows only the refusal, and
// that a refusal counts as "this BMC cannot" (ErrDiagUnsupported: another
// device may try); the request itself is checked in the relay in front of
// it, which decrypts what the driver sends: one Chassis Control with data
// 0x04, and nothing at all to a host that is off.
func TestIntegrationDiagAgainstIPMISim(t *testing.T) {
	tier.Integration(t, tier.Root, "ipmi_sim", "ip", "ping", "setsid")
	ctx := context.Background()
	r := newRig(t)
	relay := r.hostile(t, hostileipmi.Pass)
	c := r.config(0)
	c.Port = relay.Port()
	d := r.device(t, c)

	detail, err := d.Diag(ctx)
	if !errors.Is(err, fence.ErrDiagUnsupported) || !errors.Is(err, fence.ErrRefused) || !strings.Contains(err.Error(), "completion code 0xcc") {
		t.Fatalf("Diag() = %q, %v; want ipmi_sim's 0xcc as ErrDiagUnsupported and ErrRefused", detail, err)
	}
	t.Logf("ipmi_sim: %v", err)
	want := []hostileipmi.Request{{NetFn: 0x00, Cmd: 0x02, Data: []byte{0x04}}}
	if diff := cmp.Diff(want, chassisControls(relay)); diff != "" {
		t.Errorf("Chassis Control requests that reached the BMC (-want +got):\n%s", diff)
	}
	if on, err := r.bmcs[0].PoweredOn(ctx); err != nil || !on {
		t.Errorf("after Diag host0 powered on = %t, %v; a diagnostic interrupt changes no power", on, err)
	}

	if err := r.bmcs[0].SetPower(ctx, false); err != nil {
		t.Fatal(err)
	}
	r.waitPower(t, 0, false)
	if _, err := d.Diag(ctx); err == nil || !strings.Contains(err.Error(), "nothing sent") {
		t.Errorf("Diag() of an off host = %v, want it refused, nothing sent", err)
	}
	if got := len(chassisControls(relay)); got != 1 {
		t.Errorf("%d Chassis Control requests after Diag of an off host, want still 1", got)
	}
}
