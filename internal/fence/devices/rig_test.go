package devices_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/devices"
	"github.com/vigil-ha/vigil/internal/testbed/ipmisim"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// Patience for one step on a loaded machine: the drivers' own timeouts are
// the real bounds, these only stop a hung test.
const (
	stepTimeout = 2 * time.Minute
	waitTimeout = 20 * time.Second
)

// peer is the lab host that looks at the others: the probe pings from its
// namespace and the tests check reachability from it.
const peer = 2

// rig is a lab of three powered-on hosts on the mgmt and storage networks,
// each behind an ipmi_sim BMC, and a Redfish BMC for host0 whose resets
// power host0 the way ipmi_sim does (its chassis-control script), so both
// BMCs drive one real host.
type rig struct {
	lab     *netns.Lab
	ipmi    []*ipmisim.BMC
	redfish *redfishbmc.BMC
	// hooks counts the Redfish BMC's power changes.
	hooks atomic.Int32
	dir   string // password files and the configuration
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	lab, bmcs := ipmisim.LabT(tb, netns.DefaultConfig(netns.UniquePrefix(tb.Name())))
	r := &rig{lab: lab, ipmi: bmcs, dir: tb.TempDir()}
	var err error
	rc := redfishbmc.DefaultConfig()
	rc.Power = func(on bool) error {
		r.hooks.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		return bmcs[0].SetPower(ctx, on)
	}
	r.redfish, err = redfishbmc.Start(rc)
	if err != nil {
		tb.Fatalf("redfish BMC: %v", err)
	}
	tb.Cleanup(func() { _ = r.redfish.Close() })
	for i := range bmcs {
		r.waitOn(tb, i)
	}
	return r
}

// secret writes a password file and returns its path.
func (r *rig) secret(tb testing.TB, name, password string) string {
	tb.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// ipmiDev is an ipmi device of host i's level, with the BMC's password in a
// file (or a wrong one).
func (r *rig) ipmiDev(tb testing.TB, i int, rightPassword bool) string {
	pass := r.ipmi[i].Password()
	name := fmt.Sprintf("ipmi%d.pass", i)
	if !rightPassword {
		pass, name = "not-the-password", fmt.Sprintf("ipmi%d-wrong.pass", i)
	}
	return fmt.Sprintf("{driver: ipmi, username: %s, password_file: %s, timeout: 60s}",
		r.ipmi[i].Username(), r.secret(tb, name, pass))
}

// agentDev is fence_ipmilan against host i's BMC.
func (r *rig) agentDev(tb testing.TB, i int) string {
	return fmt.Sprintf("{driver: fence-agent, agent: fence_ipmilan, username: %s, password_file: %s, timeout: 90s}",
		r.ipmi[i].Username(), r.secret(tb, fmt.Sprintf("ipmi%d.pass", i), r.ipmi[i].Password()))
}

// redfishDev is host0's Redfish BMC (self-signed: insecure), with its
// password in a file (or a wrong one).
func (r *rig) redfishDev(tb testing.TB, timeout string, rightPassword bool) string {
	rc := redfishbmc.DefaultConfig()
	pass, name := rc.Password, "redfish.pass"
	if !rightPassword {
		pass, name = "not-the-password", "redfish-wrong.pass"
	}
	return fmt.Sprintf("{driver: redfish, endpoint: %q, insecure: true, username: %s, password_file: %s, timeout: %s}",
		r.redfish.Endpoint(), rc.Username, r.secret(tb, name, pass), timeout)
}

// deadIPMIDev is an ipmi device on a UDP port where nothing listens.
func deadIPMIDev(tb testing.TB, r *rig, timeout string) string {
	tb.Helper()
	c, err := net.ListenPacket("udp4", ipmisim.Address+":0")
	if err != nil {
		tb.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return fmt.Sprintf("{driver: ipmi, address: %s, port: %d, username: admin, password_file: %s, timeout: %s}",
		ipmisim.Address, port, r.secret(tb, "dead.pass", "whatever"), timeout)
}

// config writes a configuration whose host i (named host<i>) has the given
// levels (each a YAML flow list of devices), loads it and returns it with
// its path. Hosts without levels are left out.
func (r *rig) config(tb testing.TB, levels map[int][]string) (config.Config, string) {
	tb.Helper()
	var b strings.Builder
	b.WriteString("hosts:\n")
	for i := range r.ipmi {
		if len(levels[i]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  - name: %s\n    bmc: {address: %s, port: %d}\n    storage_ips: [%s]\n    fencing:\n      levels:\n",
			r.lab.Host(i).Name, ipmisim.Address, r.ipmi[i].Port(), r.lab.Addr(i, "storage"))
		for _, l := range levels[i] {
			fmt.Fprintf(&b, "        - %s\n", l)
		}
	}
	path := filepath.Join(r.dir, "vigil.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatalf("config.Load:\n%s\n%v", b.String(), err)
	}
	return cfg, path
}

// integration gates a test on the integration tier and this rig's tools.
func integration(tb testing.TB) {
	tb.Helper()
	tier.Integration(tb, tier.Root, "ipmi_sim", "ipmitool", "fence_ipmilan", "ip", "ping", "setsid")
}

// topology builds host i's topology from cfg, probing from the peer.
func (r *rig) topology(tb testing.TB, cfg config.Config, i int, probe bool) fence.Topology {
	tb.Helper()
	sec := devices.Secrets{Getenv: os.Getenv, ReadFile: os.ReadFile}
	opts := devices.Options{Probe: probe, ProbeWait: 5 * time.Second, Netns: r.lab.Host(peer).Namespace}
	topo, err := devices.Build(cfg, r.lab.Host(i).Name, sec, opts, nil)
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	return topo
}

// waitOn waits until host i runs and the peer reaches it on every network.
func (r *rig) waitOn(tb testing.TB, i int) {
	tb.Helper()
	ctx := context.Background()
	tier.Eventually(tb, waitTimeout, fmt.Sprintf("host%d on", i), func() error {
		if on, err := r.ipmi[i].PoweredOn(ctx); err != nil || !on {
			return fmt.Errorf("powered on = %t, %v", on, err)
		}
		for _, n := range []string{"mgmt", "storage"} {
			if err := r.lab.Ping(ctx, peer, r.lab.Addr(i, n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkFenced fails tb unless host i has no process left and the peer
// cannot ping it on either network, at once: a verified fence must match
// reality when it is reported, not eventually.
func (r *rig) checkFenced(tb testing.TB, i int) {
	tb.Helper()
	ctx := context.Background()
	pids, err := netns.Pids(ctx, r.lab.Host(i).Namespace)
	if err != nil || len(pids) > 0 {
		tb.Errorf("fenced host%d has processes %v (%v), want none", i, pids, err)
	}
	for _, n := range []string{"mgmt", "storage"} {
		if err := r.lab.Ping(ctx, peer, r.lab.Addr(i, n)); !errors.Is(err, netns.ErrNoReply) {
			tb.Errorf("ping peer -> fenced host%d on %s = %v, want no reply", i, n, err)
		}
	}
}

// stepLog collects a topology's steps for assertions and for the log.
type stepLog struct{ steps []fence.Step }

func (s *stepLog) report(st fence.Step) { s.steps = append(s.steps, st) }

func (s *stepLog) String() string {
	var b strings.Builder
	for _, st := range s.steps {
		fmt.Fprintf(&b, "  level %d %-45s %-6s %6.2fs %s err=%v\n", st.Level, st.Member, st.Op, st.Took.Seconds(), st.Detail, st.Err)
	}
	return b.String()
}

// find returns the first step of level with op.
func (s *stepLog) find(level int, op string) (fence.Step, bool) {
	for _, st := range s.steps {
		if st.Level == level && st.Op == op {
			return st, true
		}
	}
	return fence.Step{}, false
}
