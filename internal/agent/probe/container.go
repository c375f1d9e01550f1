package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Kolla's names for the containers of the services the agent watches.
const (
	KollaNovaCompute = "nova_compute"
	KollaLibvirt     = "nova_libvirt"
)

// ContainerInspector is the part of the Docker Engine API that the
// container probe uses; *client.Client is one.
type ContainerInspector interface {
	ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

var _ ContainerInspector = (*client.Client)(nil)

// DockerConfig says how to reach the host's Docker engine.
type DockerConfig struct {
	// Host is the engine's API endpoint, as DOCKER_HOST spells it.
	Host string
	// Timeout bounds one inspect call: an engine that hangs is a failed
	// probe, not a stalled agent.
	Timeout time.Duration
}

// DefaultDockerConfig is the engine of a Kolla host: its local socket, and
// 2 s per call (an inspect answers in milliseconds).
func DefaultDockerConfig() DockerConfig {
	return DockerConfig{Host: "unix:///var/run/docker.sock", Timeout: 2 * time.Second}
}

// Validate reports the first problem with c, naming the field.
func (c DockerConfig) Validate() error {
	if _, err := client.ParseHostURL(c.Host); err != nil {
		return fmt.Errorf("probe: docker host %q: %w", c.Host, err)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("probe: docker timeout %v: want a positive duration", c.Timeout)
	}
	return nil
}

// NewDockerClient returns an Engine API client for cfg. It negotiates the
// API version with the engine on its first call (Debian 12's docker.io 20.10
// speaks 1.41; the client goes down to 1.40). Close it when done.
func NewDockerClient(cfg DockerConfig) (*client.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := client.New(client.WithHost(cfg.Host))
	if err != nil {
		return nil, fmt.Errorf("probe: docker host %s: %w", cfg.Host, err)
	}
	return c, nil
}

// ContainerProbe looks at one container through the Docker Engine API.
type ContainerProbe struct {
	c       ContainerInspector
	name    string
	timeout time.Duration
}

// NewContainerProbe watches the container called name (KollaNovaCompute,
// KollaLibvirt) through c, each call bounded by timeout.
func NewContainerProbe(c ContainerInspector, name string, timeout time.Duration) (*ContainerProbe, error) {
	if name == "" || strings.ContainsAny(name, "/?#") {
		return nil, fmt.Errorf("probe: container name %q", name)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("probe: container %s: timeout %v: want a positive duration", name, timeout)
	}
	return &ContainerProbe{c: c, name: name, timeout: timeout}, nil
}

// Sample inspects the container now. A container that does not exist is a
// sample (not running); an error means the engine did not answer.
func (p *ContainerProbe) Sample(ctx context.Context) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res, err := p.c.ContainerInspect(ctx, p.name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return Sample{}, nil
	}
	if err != nil {
		return Sample{}, fmt.Errorf("probe: container %s: %w", p.name, err)
	}
	s, err := containerSample(res.Container)
	if err != nil {
		return Sample{}, fmt.Errorf("probe: container %s: %w", p.name, err)
	}
	return s, nil
}

var errNoState = errors.New("engine sent no state")

// containerSample reads an inspect answer. Only a container whose process
// runs and serves counts as running: a paused one (frozen), one waiting to
// be restarted by its policy, or a dead one does not.
func containerSample(r container.InspectResponse) (Sample, error) {
	st := r.State
	if st == nil {
		return Sample{}, errNoState
	}
	if !st.Running || st.Paused || st.Restarting || st.Dead {
		return Sample{}, nil
	}
	started, err := time.Parse(time.RFC3339Nano, st.StartedAt)
	if err != nil {
		return Sample{}, fmt.Errorf("start time %q: %w", st.StartedAt, err)
	}
	return Sample{Running: true, Instance: r.ID, Started: started, RestartCount: r.RestartCount}, nil
}
