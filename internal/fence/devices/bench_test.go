package devices_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// BenchmarkTopologyOff measures Off of host0 through a topology built from
// a configuration file, against ipmi_sim: the cost of falling back from a
// level 1 that fails fast to a level 2 that fences with IPMI (session,
// chassis power down, power read back), next to IPMI alone. No probe: it
// would add a second of ping timeout to every case. Powering the host back
// on is not timed.
func BenchmarkTopologyOff(b *testing.B) {
	integration(b)
	r := newRig(b)
	ipmi := "[" + r.ipmiDev(b, 0, true) + "]"
	for _, bc := range []struct {
		name   string
		levels []string
		level  int
	}{
		{"ipmi", []string{ipmi}, 1},
		{"unreachable-ipmi+ipmi", []string{"[" + deadIPMIDev(b, r, "20s") + "]", ipmi}, 2},
		{"wrong-password-ipmi+ipmi", []string{"[" + r.ipmiDev(b, 0, false) + "]", ipmi}, 2},
		{"wrong-password-redfish+ipmi", []string{"[" + r.redfishDev(b, "20s", false) + "]", ipmi}, 2},
	} {
		cfg, _ := r.config(b, map[int][]string{0: bc.levels})
		topo := r.topology(b, cfg, 0, false)
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				if err := r.ipmi[0].SetPower(ctx, true); err != nil {
					b.Fatal(err)
				}
				tier.Eventually(b, waitTimeout, "host0 on", func() error {
					if on, err := r.ipmi[0].PoweredOn(ctx); err != nil || !on {
						return fmt.Errorf("powered on = %t, %v", on, err)
					}
					return nil
				})
				b.StartTimer()
				out, err := topo.Off(ctx, nil)
				if err != nil || out.Level != bc.level {
					b.Fatalf("Off() = level %d, %v; want level %d", out.Level, err, bc.level)
				}
			}
		})
	}
}
