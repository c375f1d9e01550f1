package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrNoReply is returned by Ping when the address did not answer.
var ErrNoReply = errors.New("netns: no reply")

// Host is one host namespace of a lab.
type Host struct {
	Index     int    // 0-based position in the lab
	Name      string // "host0", "host1", ...
	Namespace string // "<prefix>-host0", ...
}

// Lab is a running lab. Its methods may be called from several goroutines.
type Lab struct {
	cfg    Config
	ip     string // path of the ip command
	fabric string
	hosts  []Host

	// mu guards created.
	mu sync.Mutex
	// created lists the namespaces this lab made, in creation order; Down
	// deletes exactly these.
	created []string
}

// Up creates the lab described by cfg. If anything fails, what was already
// created is removed again. The caller must call Down when done, also when
// the test fails (t.Cleanup).
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("netns: iproute2 is needed: %w", err)
	}
	l := &Lab{cfg: cfg, ip: ip, fabric: cfg.Prefix + "-fabric"}
	l.cfg.Networks = slices.Clone(cfg.Networks)
	for i := range cfg.Hosts {
		name := "host" + strconv.Itoa(i)
		l.hosts = append(l.hosts, Host{Index: i, Name: name, Namespace: cfg.Prefix + "-" + name})
	}
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(err, l.Down(context.WithoutCancel(ctx)))
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context) error {
	if err := l.addNamespace(ctx, l.fabric); err != nil {
		return err
	}
	for _, n := range l.cfg.Networks {
		if err := l.run(ctx, "-n", l.fabric, "link", "add", bridge(n.Name), "type", "bridge"); err != nil {
			return err
		}
		if err := l.run(ctx, "-n", l.fabric, "link", "set", bridge(n.Name), "up"); err != nil {
			return err
		}
	}
	for _, h := range l.hosts {
		if err := l.addNamespace(ctx, h.Namespace); err != nil {
			return err
		}
		for _, n := range l.cfg.Networks {
			if err := l.attach(ctx, h, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// addNamespace creates namespace ns with its loopback up. It fails if ns
// exists already: that namespace belongs to someone else.
func (l *Lab) addNamespace(ctx context.Context, ns string) error {
	if err := l.run(ctx, "netns", "add", ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.created = append(l.created, ns)
	l.mu.Unlock()
	return l.run(ctx, "-n", ns, "link", "set", "lo", "up")
}

// attach connects host h to network n. The veth pair is created inside h's
// namespace with its peer moved straight into the fabric namespace, so the
// root namespace never sees it.
func (l *Lab) attach(ctx context.Context, h Host, n Network) error {
	dev, port := Interface(n.Name), fabricPort(h.Index, n.Name)
	addr := netip.PrefixFrom(hostAddr(n, h.Index), n.Subnet.Bits())
	steps := [][]string{
		{"-n", h.Namespace, "link", "add", dev, "type", "veth", "peer", "name", port, "netns", l.fabric},
		{"-n", l.fabric, "link", "set", port, "master", bridge(n.Name), "up"},
		{"-n", h.Namespace, "addr", "add", addr.String(), "dev", dev},
		{"-n", h.Namespace, "link", "set", dev, "up"},
	}
	for _, args := range steps {
		if err := l.run(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// Config returns the configuration the lab was built from.
func (l *Lab) Config() Config {
	c := l.cfg
	c.Networks = slices.Clone(l.cfg.Networks)
	return c
}

// Fabric is the name of the namespace holding the bridges.
func (l *Lab) Fabric() string { return l.fabric }

// Hosts returns every host of the lab.
func (l *Lab) Hosts() []Host { return slices.Clone(l.hosts) }

// Host returns host i (0-based). It panics if i is out of range: that is a
// bug in the test.
func (l *Lab) Host(i int) Host {
	if i < 0 || i >= len(l.hosts) {
		panic(fmt.Sprintf("netns: host %d out of range, lab has %d", i, len(l.hosts)))
	}
	return l.hosts[i]
}

// Addr is host i's address on network. It panics if the lab has no such host
// or network: that is a bug in the test.
func (l *Lab) Addr(host int, network string) netip.Addr {
	return hostAddr(l.network(network), l.Host(host).Index)
}

func (l *Lab) network(name string) Network {
	for _, n := range l.cfg.Networks {
		if n.Name == name {
			return n
		}
	}
	panic(fmt.Sprintf("netns: lab has no network %q", name))
}

// Cut takes host's link on network down, as if its cable were pulled.
func (l *Lab) Cut(ctx context.Context, host int, network string) error {
	return l.run(ctx, "-n", l.Host(host).Namespace, "link", "set", Interface(l.network(network).Name), "down")
}

// Heal brings host's link on network back up.
func (l *Lab) Heal(ctx context.Context, host int, network string) error {
	return l.run(ctx, "-n", l.Host(host).Namespace, "link", "set", Interface(l.network(network).Name), "up")
}

// Ping sends one echo request from host from to addr and waits up to one
// second for the reply. It returns nil on a reply and ErrNoReply when none
// came.
func (l *Lab) Ping(ctx context.Context, from int, to netip.Addr) error {
	cmd := l.Command(ctx, from, "ping", "-n", "-q", "-c", "1", "-W", "1", to.String())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == 1: // ping: no reply
		return fmt.Errorf("%w from %s to %s", ErrNoReply, l.Host(from).Name, to)
	default:
		return fmt.Errorf("netns: ping from %s to %s: %w: %s", l.Host(from).Name, to, err, bytes.TrimSpace(out))
	}
}

// Command returns a command that runs name with args inside host's
// namespace.
func (l *Lab) Command(ctx context.Context, host int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, l.ip, append([]string{"netns", "exec", l.Host(host).Namespace, name}, args...)...)
}

// Down SIGKILLs every process left in the lab's namespaces and deletes
// them. It is safe to call more than once.
func (l *Lab) Down(ctx context.Context) error {
	l.mu.Lock()
	created := l.created
	l.created = nil
	l.mu.Unlock()
	var errs []error
	for _, ns := range slices.Backward(created) {
		if err := Kill(ctx, ns); err != nil {
			errs = append(errs, err)
		}
		if err := l.run(ctx, "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *Lab) run(ctx context.Context, args ...string) error {
	return run(ctx, l.ip, args...)
}

func run(ctx context.Context, ip string, args ...string) error {
	out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Pids lists the processes living in network namespace ns.
func Pids(ctx context.Context, ns string) ([]int, error) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("netns: iproute2 is needed: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ip, "netns", "pids", ns)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("netns: ip netns pids %s: %w: %s", ns, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("netns: ip netns pids %s: bad pid %q", ns, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Kill SIGKILLs every process living in network namespace ns.
func Kill(ctx context.Context, ns string) error {
	pids, err := Pids(ctx, ns)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("netns: kill %d in %s: %w", pid, ns, err)
		}
	}
	return nil
}
