package openstack_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/vigil-ha/vigil/internal/testbed/openstack"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

var shared = &openstack.Shared{}

func TestMain(m *testing.M) {
	shared.Enabled = tier.Enabled() && os.Getenv("VIGIL_OPENSTACK") == "1"
	shared.RunDir = os.Getenv("VIGIL_RUN")
	shared.Keep = os.Getenv("VIGIL_OPENSTACK_KEEP") == "1"
	os.Exit(shared.Close(m.Run()))
}

// bed returns the shared bed with hosts cmp1 and cmp2 up, forced down on
// neither: a test that breaks a host restores it in its cleanup.
func bed(t *testing.T) *openstack.Bed {
	t.Helper()
	tier.Integration(t, tier.Root)
	b := shared.Get(t)
	ctx := context.Background()
	for _, h := range []string{"cmp1", "cmp2"} {
		if err := b.StartCompute(ctx, openstack.ComputeConfig{Host: h}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// restore brings host back as a test found it: nova-compute running (its
// restart cleans up what was evacuated away), not forced down, "up".
func restore(t *testing.T, b *openstack.Bed, host string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := b.StartCompute(ctx, openstack.ComputeConfig{Host: host}); err != nil {
		t.Error(err)
		return
	}
	if err := b.SetForcedDown(ctx, host, false); err != nil {
		t.Error(err)
		return
	}
	if _, err := b.WaitServiceState(ctx, host, "up"); err != nil {
		t.Error(err)
	}
}

func server(t *testing.T, b *openstack.Bed, name, host string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := b.CreateServer(ctx, name, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.DeleteServer(context.Background(), id); err != nil {
			t.Error(err)
		}
	})
	return id
}

func onHost(host string) func(*servers.Server) error {
	return func(s *servers.Server) error {
		if s.Status != "ACTIVE" || s.Host != host || (s.TaskState != "" && s.TaskState != "null") {
			return fmt.Errorf("%s on %q (task %q)", s.Status, s.Host, s.TaskState)
		}
		return nil
	}
}

// A second Start in the same process shares the running bed.
func TestStartAgainReusesTheBed(t *testing.T) {
	b := bed(t)
	ctx := context.Background()
	again, err := openstack.Start(ctx, b.Config())
	if err != nil {
		t.Fatal(err)
	}
	if again != b {
		t.Fatal("second Start made another Bed")
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FlavorID(ctx); err != nil {
		t.Fatalf("bed unusable after the second Start's Close: %v", err)
	}
}

// The story the bed exists for: a host's nova-compute dies, Nova reports it
// down after service_down_time, vigil forces it down and evacuates its
// server, which comes up ACTIVE on the other host.
func TestKilledHostIsReportedDownAndItsServerEvacuated(t *testing.T) {
	b := bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := server(t, b, "evac-1", "cmp1")
	t.Cleanup(func() { restore(t, b, "cmp1") })

	killed := time.Now()
	if err := b.StopCompute(ctx, "cmp1", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitServiceState(ctx, "cmp1", "down"); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 -> service down: %.1f s (report_interval %v, service_down_time %v)",
		time.Since(killed).Seconds(), b.Config().ReportInterval, b.Config().ServiceDownTime)

	if err := b.SetForcedDown(ctx, "cmp1", true); err != nil {
		t.Fatal(err)
	}
	evacuated := time.Now()
	if err := b.Evacuate(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitServer(ctx, id, onHost("cmp2")); err != nil {
		t.Fatal(err)
	}
	t.Logf("evacuate -> ACTIVE on cmp2: %.1f s", time.Since(evacuated).Seconds())
}

// A host stopped and started again goes down and comes back up in Nova.
func TestStoppedComputeGoesDownAndComesBack(t *testing.T) {
	b := bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() { restore(t, b, "cmp2") })
	if err := b.StopCompute(ctx, "cmp2", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitServiceState(ctx, "cmp2", "down"); err != nil {
		t.Fatal(err)
	}
	if err := b.StartCompute(ctx, openstack.ComputeConfig{Host: "cmp2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitServiceState(ctx, "cmp2", "up"); err != nil {
		t.Fatal(err)
	}
}
