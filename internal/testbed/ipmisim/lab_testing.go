package ipmisim

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/netns"
)

// LabT builds a namespace lab of cfg's hosts, each powered on behind its
// own ipmi_sim BMC, for the test tb: everything is torn down at the test's
// end, and the BMCs' logs are printed when it failed.
func LabT(tb testing.TB, cfg netns.Config) (*netns.Lab, []*BMC) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lab, err := netns.Up(ctx, cfg)
	if err != nil {
		tb.Fatalf("lab: %v", err)
	}
	tb.Cleanup(func() { _ = lab.Down(context.Background()) })
	bmcs, err := StartForLab(ctx, lab, tb.TempDir())
	if err != nil {
		tb.Fatalf("BMCs: %v", err)
	}
	for _, b := range bmcs {
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Log(b.Logs())
			}
			b.Stop()
		})
	}
	return lab, bmcs
}
