package ipmisim

import (
	"context"
	"fmt"

	"github.com/vigil-ha/vigil/internal/testbed/netns"
)

// StartForLab starts one BMC per host of lab, with runtime files under dir
// and default settings, and powers every host on. BMC i powers lab.Host(i).
// If anything fails, the BMCs already started are stopped. The caller must
// Stop the rest.
func StartForLab(ctx context.Context, lab *netns.Lab, dir string) ([]*BMC, error) {
	var bmcs []*BMC
	stopAll := func() {
		for _, b := range bmcs {
			b.Stop()
		}
	}
	for _, h := range lab.Hosts() {
		b, err := Start(ctx, DefaultConfig(h.Namespace, dir))
		if err != nil {
			stopAll()
			return nil, err
		}
		bmcs = append(bmcs, b)
		if err := b.SetPower(ctx, true); err != nil {
			stopAll()
			return nil, fmt.Errorf("ipmisim: power on %s: %w", h.Name, err)
		}
	}
	return bmcs, nil
}
