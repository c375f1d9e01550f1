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

// WaitPower polls the host's true power state (does its namespace run
// processes) until it is on (or off), failing tb after timeout.
func (b *BMC) WaitPower(tb testing.TB, on bool, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := b.PoweredOn(context.Background())
		if err == nil && got == on {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s powered on = %t, %v; want %t", b.cfg.Namespace, got, err, on)
		}
		<-tick.C
	}
}
