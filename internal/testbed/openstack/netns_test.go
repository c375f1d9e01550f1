package openstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/openstack"
)

// A nova-compute in a network namespace reaches the control plane over its
// mgmt link only: cutting that link makes Nova report the host down, healing
// it brings the host back up.
func TestComputeInNamespaceGoesDownWhenItsLinkIsCut(t *testing.T) {
	b := bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := netns.DefaultConfig(netns.UniquePrefix("os"))
	cfg.Hosts = 2 // host0 carries the gateway to the control plane, host1 is cmp3
	lab, err := netns.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, h := range lab.Hosts() {
			if err := b.StopGateway(context.Background(), h.Namespace); err != nil {
				t.Error(err)
			}
		}
		if err := lab.Down(context.Background()); err != nil {
			t.Error(err)
		}
	})
	cmp3 := openstack.ComputeConfig{
		Host:         "cmp3",
		Netns:        lab.Host(1).Namespace,
		Gateway:      lab.Addr(0, "mgmt"),
		GatewayNetns: lab.Host(0).Namespace,
	}
	if err := b.StartCompute(ctx, cmp3); err != nil {
		t.Fatal(err)
	}
	if err := lab.Cut(ctx, 1, "mgmt"); err != nil {
		t.Fatal(err)
	}
	took, err := b.WaitServiceState(ctx, "cmp3", "down")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mgmt link cut -> service down: %.1f s", took.Seconds())
	if err := lab.Heal(ctx, 1, "mgmt"); err != nil {
		t.Fatal(err)
	}
	if took, err = b.WaitServiceState(ctx, "cmp3", "up"); err != nil {
		t.Fatal(err)
	}
	t.Logf("link healed -> service up: %.1f s", took.Seconds())
}
