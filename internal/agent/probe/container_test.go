package probe

import (
	"context"
	"errors"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

func TestContainerSample(t *testing.T) {
	const started = "2026-12-03T09:56:47.32301759Z"
	at, _ := time.Parse(time.RFC3339Nano, started)
	inspect := func(st container.State, restarts int) container.InspectResponse {
		st.StartedAt = started
		return container.InspectResponse{ID: "aac9236", State: &st, RestartCount: restarts}
	}
	for _, tc := range []struct {
		name string
		in   container.InspectResponse
		want Sample
		err  bool
	}{
		{"running", inspect(container.State{Status: "running", Running: true, Pid: 20191}, 2),
			Sample{Running: true, Instance: "aac9236", Started: at, RestartCount: 2}, false},
		{"exited", inspect(container.State{Status: "exited", ExitCode: 137}, 0), Sample{}, false},
		// Docker keeps Running true while the policy waits to restart it.
		{"restarting", inspect(container.State{Status: "restarting", Running: true, Restarting: true}, 3), Sample{}, false},
		{"paused is frozen, not serving", inspect(container.State{Status: "paused", Running: true, Paused: true}, 0), Sample{}, false},
		{"dead", inspect(container.State{Status: "dead", Dead: true}, 0), Sample{}, false},
		{"no state", container.InspectResponse{ID: "x"}, Sample{}, true},
		{"running with a start time that does not parse",
			container.InspectResponse{ID: "x", State: &container.State{Running: true, StartedAt: "yesterday"}}, Sample{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerSample(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("containerSample error %v, want error %v", err, tc.err)
			}
			if got.Running != tc.want.Running || got.Instance != tc.want.Instance ||
				!got.Started.Equal(tc.want.Started) || got.RestartCount != tc.want.RestartCount {
				t.Fatalf("containerSample = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// inspectFunc is a ContainerInspector made of a function.
type inspectFunc func(ctx context.Context, id string) (client.ContainerInspectResult, error)

func (f inspectFunc) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return f(ctx, id)
}

func TestContainerProbeErrors(t *testing.T) {
	ctx := context.Background()
	missing := inspectFunc(func(context.Context, string) (client.ContainerInspectResult, error) {
		return client.ContainerInspectResult{}, cerrdefs.ErrNotFound.WithMessage("No such container: nova_compute")
	})
	p, err := NewContainerProbe(missing, KollaNovaCompute, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.Sample(ctx); err != nil || s.Running {
		t.Errorf("a container that does not exist: Sample = %+v, %v; want not running, no error", s, err)
	}
	down := errors.New("dial unix /var/run/docker.sock: connect: no such file or directory")
	unreachable := inspectFunc(func(context.Context, string) (client.ContainerInspectResult, error) {
		return client.ContainerInspectResult{}, down
	})
	p, _ = NewContainerProbe(unreachable, KollaNovaCompute, time.Second)
	if _, err := p.Sample(ctx); !errors.Is(err, down) {
		t.Errorf("an unreachable engine: error %v, want it wrapped", err)
	}
	// A hung engine: the call is cut at the probe's timeout.
	hung := inspectFunc(func(ctx context.Context, _ string) (client.ContainerInspectResult, error) {
		<-ctx.Done()
		return client.ContainerInspectResult{}, ctx.Err()
	})
	p, _ = NewContainerProbe(hung, KollaLibvirt, 10*time.Millisecond)
	if _, err := p.Sample(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a hung engine: error %v, want the deadline", err)
	}
	for _, name := range []string{"", "a/b"} {
		if _, err := NewContainerProbe(missing, name, time.Second); err == nil {
			t.Errorf("NewContainerProbe(%q): want an error", name)
		}
	}
	for _, cfg := range []DockerConfig{{Host: "", Timeout: time.Second}, {Host: "unix:///run/docker.sock"}} {
		if _, err := NewDockerClient(cfg); err == nil {
			t.Errorf("NewDockerClient(%+v): want an error", cfg)
		}
	}
}
