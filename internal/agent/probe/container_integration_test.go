package probe_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/vigil-ha/vigil/internal/agent/probe"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/testbed/dockerd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// TestContainerProbeAgainstDockerd runs Kolla-named containers in a real
// Docker engine and checks that every kind of restart an operator or a
// restart policy makes is reported as one, and that a stop, a missing
// container and a dead engine are each reported as not running.
func TestContainerProbeAgainstDockerd(t *testing.T) {
	tier.Integration(t, tier.Root, "dockerd", "containerd", "runc", "busybox")
	t0 := time.Now()
	d, err := dockerd.Start(dockerd.DefaultConfig(os.Getenv("VIGIL_RUN")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop dockerd: %v", err)
		}
	})
	t.Logf("dockerd answers after %v", time.Since(t0).Round(time.Millisecond))
	ctx := context.Background()
	const image = "vigil-busybox:test"
	if err := d.ImportBusybox(ctx, image); err != nil {
		t.Fatal(err)
	}
	cli, err := probe.NewDockerClient(probe.DockerConfig{Host: d.Host(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	nova := newService(t, cli, probe.KollaNovaCompute)
	libvirt := newService(t, cli, probe.KollaLibvirt)
	check := func(step string, s *probe.Service, want decision.Process) {
		t.Helper()
		got, err := s.Check(ctx)
		if err != nil || got != want {
			r, _ := d.Client().ContainerInspect(ctx, probe.KollaNovaCompute, client.ContainerInspectOptions{})
			t.Fatalf("%s: report %+v, %v; want %+v (nova_compute: %+v)", step, got, err, want, r.Container.State)
		}
	}
	inspect := func(name string) container.InspectResponse {
		t.Helper()
		r, err := d.Client().ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Container
	}

	check("no container yet", nova, decision.Process{Running: false})
	for _, name := range []string{probe.KollaNovaCompute, probe.KollaLibvirt} {
		if _, err := d.RunSleeper(ctx, name, image, container.RestartPolicyAlways); err != nil {
			t.Fatal(err)
		}
	}
	check("created and started (after a sample that saw none)", nova, decision.Process{Running: true, Restarts: 1})
	check("nova_libvirt running at its first sample: the baseline", libvirt, decision.Process{Running: true})

	first := inspect(probe.KollaNovaCompute).State.StartedAt
	t1 := time.Now()
	if _, err := d.Client().ContainerRestart(ctx, probe.KollaNovaCompute, client.ContainerRestartOptions{Timeout: ptr(0)}); err != nil {
		t.Fatal(err)
	}
	t.Logf("docker restart took %v", time.Since(t1).Round(time.Millisecond))
	after := inspect(probe.KollaNovaCompute)
	t.Logf("docker restart: StartedAt %s -> %s, RestartCount %d", first, after.State.StartedAt, after.RestartCount)
	check("docker restart", nova, decision.Process{Running: true, Restarts: 2})

	// nova-compute crashes: its process is killed and the restart policy
	// starts it again. The engine counts that one.
	pid := inspect(probe.KollaNovaCompute).State.Pid
	t2 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tier.Eventually(t, 30*time.Second, "the restart policy restarts the killed container", func() error {
		// While the policy waits, Docker says Running and Restarting.
		if r := inspect(probe.KollaNovaCompute); !r.State.Running || r.State.Restarting || r.State.Pid == pid || r.RestartCount != 1 {
			return fmt.Errorf("state %s pid %d restart count %d", r.State.Status, r.State.Pid, r.RestartCount)
		}
		return nil
	})
	t.Logf("kill -9 of the container's process to running again: %v", time.Since(t2).Round(time.Millisecond))
	check("killed, restarted by its policy", nova, decision.Process{Running: true, Restarts: 3})

	if _, err := d.Client().ContainerStop(ctx, probe.KollaNovaCompute, client.ContainerStopOptions{Timeout: ptr(0)}); err != nil {
		t.Fatal(err)
	}
	check("docker stop", nova, decision.Process{Running: false, Restarts: 3})
	if _, err := d.Client().ContainerStart(ctx, probe.KollaNovaCompute, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	check("docker start", nova, decision.Process{Running: true, Restarts: 4})

	// Redeployed: removed and created again under the same name.
	if _, err := d.Client().ContainerRemove(ctx, probe.KollaNovaCompute, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	check("removed", nova, decision.Process{Running: false, Restarts: 4})
	if _, err := d.RunSleeper(ctx, probe.KollaNovaCompute, image, container.RestartPolicyAlways); err != nil {
		t.Fatal(err)
	}
	check("recreated", nova, decision.Process{Running: true, Restarts: 5})
	check("nova_libvirt untouched all along", libvirt, decision.Process{Running: true})

	// The engine goes away: the probe fails, and says so.
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	got, err := libvirt.Check(ctx)
	if err == nil || got != (decision.Process{Running: false}) {
		t.Fatalf("engine stopped: report %+v, %v; want not running and an error", got, err)
	}
	t.Logf("with the engine gone: %v", err)
}

func newService(t *testing.T, cli probe.ContainerInspector, name string) *probe.Service {
	t.Helper()
	p, err := probe.NewContainerProbe(cli, name, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &probe.Service{Prober: p}
}

func ptr[T any](v T) *T { return &v }
