package openstack

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
)

// ComputeConfig is one nova-compute host.
type ComputeConfig struct {
	// Host is Nova's host name for it ([DEFAULT]host), e.g. "cmp1".
	Host string
	// Netns, when set, is a network namespace (made by the caller) that
	// nova-compute runs in. It then reaches the control plane at Gateway,
	// an address that lives in namespace GatewayNetns (for example a netns
	// lab's host 0 on its mgmt network), where the bed relays the ports a
	// compute uses (RabbitMQ, Keystone, Placement, Glance, Neutron) to the
	// control plane on 127.0.0.1. Cutting the host's link to Gateway cuts
	// it off from Nova.
	Netns        string
	Gateway      netip.Addr
	GatewayNetns string
}

var (
	hostRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	netnsRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// Validate reports the first problem with c.
func (c ComputeConfig) Validate() error {
	switch {
	case !hostRE.MatchString(c.Host):
		return fmt.Errorf("openstack testbed: host %q must match %s", c.Host, hostRE)
	case c.Netns == "" && (c.Gateway.IsValid() || c.GatewayNetns != ""):
		return fmt.Errorf("openstack testbed: host %s: a gateway only goes with Netns", c.Host)
	case c.Netns != "" && (!netnsRE.MatchString(c.Netns) || !netnsRE.MatchString(c.GatewayNetns) || !c.Gateway.Is4()):
		return fmt.Errorf("openstack testbed: host %s: Netns, GatewayNetns and an IPv4 Gateway are needed together", c.Host)
	}
	return nil
}

func computeName(host string) string { return "nova-compute-" + host }

// StartCompute starts nova-compute for c.Host, unless it is running, and
// waits until Nova has its service record with a fresh heartbeat and the
// host is mapped to the cell (so servers can be placed on it). A service
// left forced down stays forced down (SetForcedDown lifts it).
func (b *Bed) StartCompute(ctx context.Context, c ComputeConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	name := computeName(c.Host)
	before, _ := b.Service(ctx, c.Host)
	if !b.alive(name) {
		if c.Netns != "" {
			if err := b.startRelays(c); err != nil {
				return err
			}
		}
		conf, err := b.writeComputeConf(c)
		if err != nil {
			return err
		}
		args := []string{filepath.Join(b.cfg.Dir, "bin", "nova-compute"),
			"--config-file", filepath.Join(b.cfg.Dir, "etc", "nova", "nova.conf"),
			"--config-file", conf, "--log-file", b.LogPath(name)}
		if c.Netns != "" {
			args = append([]string{"ip", "netns", "exec", c.Netns}, args...)
		}
		if err := b.spawn(name, args...); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.hosts[c.Host] = c
	b.mu.Unlock()
	wait, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	err := poll(wait, 250*time.Millisecond, "nova-compute "+c.Host+" reporting", func() error {
		if !b.alive(name) {
			return fmt.Errorf("nova-compute exited\n%s", tail(b.LogPath(name), 15))
		}
		s, err := b.Service(ctx, c.Host)
		switch {
		case err != nil:
			return err
		case s.ForcedDown && s.UpdatedAt.Equal(before.UpdatedAt):
			return fmt.Errorf("forced down, no heartbeat since %v", before.UpdatedAt)
		case !s.ForcedDown && s.State != "up":
			return fmt.Errorf("state %s", s.State)
		}
		return nil
	})
	if err != nil {
		return err
	}
	marker := filepath.Join(b.cfg.Dir, "db", ".mapped-"+c.Host)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := b.discoverHosts(ctx); err != nil {
		return err
	}
	return os.WriteFile(marker, nil, 0o644)
}

// writeComputeConf writes the per-host config file, read after nova.conf:
// its host name and, in a namespace, the gateway for every endpoint.
func (b *Bed) writeComputeConf(c ComputeConfig) (string, error) {
	conf := fmt.Sprintf("[DEFAULT]\nhost = %s\n", c.Host)
	if c.Netns != "" {
		gw := c.Gateway.String()
		conf += fmt.Sprintf(`transport_url = rabbit://guest:guest@%[1]s:5672/
my_ip = %[1]s
[placement]
auth_url = http://%[1]s:5000/v3
endpoint_override = http://%[1]s:8778
[neutron]
auth_url = http://%[1]s:5000/v3
endpoint_override = http://%[1]s:9696
[glance]
endpoint_override = http://%[1]s:9292
`, gw)
	}
	path := filepath.Join(b.cfg.Dir, "etc", "nova", "nova-"+c.Host+".conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// startRelays carries the compute ports from Gateway in GatewayNetns to the
// control plane: socat listening there hands each connection to a unix
// socket under the bed's directory (a path reaches across namespaces),
// where a socat in the root namespace connects it to 127.0.0.1.
func (b *Bed) startRelays(c ComputeConfig) error {
	relay := filepath.Join(b.cfg.Dir, "relay")
	if err := os.MkdirAll(relay, 0o755); err != nil {
		return fmt.Errorf("openstack testbed: %w", err)
	}
	for _, port := range relayPorts {
		sock := filepath.Join(relay, strconv.Itoa(port)+".sock")
		root := "relay-" + strconv.Itoa(port)
		if !b.alive(root) {
			if err := b.spawn(root, "socat", "UNIX-LISTEN:"+sock+",fork,unlink-early,mode=600", "TCP:127.0.0.1:"+strconv.Itoa(port)); err != nil {
				return err
			}
		}
		gw := "relay-" + c.GatewayNetns + "-" + c.Gateway.String() + "-" + strconv.Itoa(port)
		if !b.alive(gw) {
			listen := fmt.Sprintf("TCP4-LISTEN:%d,bind=%s,fork,reuseaddr", port, c.Gateway)
			if err := b.spawn(gw, "ip", "netns", "exec", c.GatewayNetns, "socat", listen, "UNIX-CONNECT:"+sock); err != nil {
				return err
			}
		}
	}
	return nil
}

// spawn starts a daemon in its own session (pid == pgid == sid) with the
// bed's environment, records its pid file and reaps it when it exits. It is
// not tied to this process: Stop ends it.
func (b *Bed) spawn(name string, args ...string) error {
	out, err := os.OpenFile(filepath.Join(b.cfg.Dir, "logs", name+".out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("openstack testbed: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = b.cfg.Dir // never a directory holding a Python 'cmd' package
	cmd.Env = b.env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("openstack testbed: start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait() }() // reap; the pid file tells the rest
	pid := strconv.Itoa(cmd.Process.Pid)
	return os.WriteFile(filepath.Join(b.cfg.Dir, "pids", name+".pid"), []byte(pid+"\n"), 0o644)
}

// alive tells whether the process group of pid file name has a process of ours.
func (b *Bed) alive(name string) bool {
	pid, ok := b.pid(name)
	return ok && b.groupAlive(pid)
}

func (b *Bed) pid(name string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(b.cfg.Dir, "pids", name+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(string(trimSpace(data)))
	return pid, err == nil && pid > 1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// StopCompute sends sig to host's nova-compute (its whole process group)
// and waits until it has exited: SIGKILL is a crash, SIGTERM a clean stop.
// Nova notices only through missing heartbeats (WaitServiceState "down").
func (b *Bed) StopCompute(ctx context.Context, host string, sig syscall.Signal) error {
	name := computeName(host)
	pid, ok := b.pid(name)
	if !ok || !b.groupAlive(pid) {
		// Not running: dead already (a power cut in a netns lab killed
		// it), so its pid file is stale.
		_ = os.Remove(filepath.Join(b.cfg.Dir, "pids", name+".pid"))
		return nil
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("openstack testbed: signal %s: %w", name, err)
	}
	err := poll(ctx, 50*time.Millisecond, name+" exiting", func() error {
		if b.groupAlive(pid) {
			return fmt.Errorf("pid %d alive", pid)
		}
		return nil
	})
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return err
	}
	return os.Remove(filepath.Join(b.cfg.Dir, "pids", name+".pid"))
}

// discoverHosts maps new compute hosts to cell1 now, instead of waiting for
// the scheduler's periodic discovery.
func (b *Bed) discoverHosts(ctx context.Context) error {
	etc := filepath.Join(b.cfg.Dir, "etc", "nova")
	cmd := exec.CommandContext(ctx, filepath.Join(b.cfg.Dir, "bin", "nova-manage"),
		"--config-file", filepath.Join(etc, "nova.conf"), "--config-file", filepath.Join(etc, "nova-db.conf"),
		"cell_v2", "discover_hosts")
	cmd.Dir, cmd.Env = b.cfg.Dir, b.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("openstack testbed: nova-manage cell_v2 discover_hosts: %w\n%s", err, out)
	}
	return nil
}

// Service is host's nova-compute service record (microversion 2.53: its id
// is a UUID, forced_down is shown).
func (b *Bed) Service(ctx context.Context, host string) (services.Service, error) {
	nova, err := b.Compute(ctx, "2.53")
	if err != nil {
		return services.Service{}, err
	}
	pages, err := services.List(nova, services.ListOpts{Binary: "nova-compute", Host: host}).AllPages(ctx)
	if err != nil {
		return services.Service{}, fmt.Errorf("openstack testbed: list services: %w", err)
	}
	all, err := services.ExtractServices(pages)
	if err != nil {
		return services.Service{}, err
	}
	if len(all) != 1 {
		return services.Service{}, fmt.Errorf("openstack testbed: %d nova-compute services on host %s", len(all), host)
	}
	return all[0], nil
}

// WaitServiceState waits until Nova reports host's nova-compute in state
// ("up" or "down") and returns how long that took.
func (b *Bed) WaitServiceState(ctx context.Context, host, state string) (time.Duration, error) {
	t0 := time.Now()
	err := poll(ctx, 100*time.Millisecond, "service "+host+" "+state, func() error {
		s, err := b.Service(ctx, host)
		if err != nil {
			return err
		}
		if s.State != state {
			return fmt.Errorf("state %s", s.State)
		}
		return nil
	})
	return time.Since(t0), err
}

// RemoveCompute kills host's nova-compute and deletes its service record
// from Nova (with its compute node, resource provider and cell mapping), so
// that the scheduler cannot pick it in the seconds before Nova would see it
// down. Nova refuses while servers live on it.
func (b *Bed) RemoveCompute(ctx context.Context, host string) error {
	if err := b.StopCompute(ctx, host, syscall.SIGKILL); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.hosts, host)
	b.mu.Unlock()
	svc, err := b.Service(ctx, host)
	if err != nil {
		return nil // never registered
	}
	nova, err := b.Compute(ctx, "2.53")
	if err != nil {
		return err
	}
	if err := services.Delete(ctx, nova, svc.ID).ExtractErr(); err != nil {
		return fmt.Errorf("openstack testbed: delete service of %s: %w", host, err)
	}
	return os.Remove(filepath.Join(b.cfg.Dir, "db", ".mapped-"+host))
}

// StopGateway ends the relays the bed runs in namespace ns, and removes
// (RemoveCompute) the nova-compute hosts started in or through ns by this Bed. Call it before the
// namespace is deleted: a process inside keeps a deleted namespace alive.
func (b *Bed) StopGateway(ctx context.Context, ns string) error {
	b.mu.Lock()
	var hosts []string
	for h, c := range b.hosts {
		if c.Netns == ns || c.GatewayNetns == ns {
			hosts = append(hosts, h)
		}
	}
	b.mu.Unlock()
	for _, h := range hosts {
		if err := b.RemoveCompute(ctx, h); err != nil {
			return err
		}
	}
	files, _ := filepath.Glob(filepath.Join(b.cfg.Dir, "pids", "relay-"+ns+"-*.pid"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		pid, ok := b.pid(name)
		if !ok {
			continue
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		if !b.waitGone(pid, 5*time.Second) {
			return fmt.Errorf("openstack testbed: %s outlived SIGKILL", name)
		}
		_ = os.Remove(f)
	}
	return nil
}
