package ipmisim

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/child"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
)

//go:embed chassis-control.sh
var chassisControl []byte

// Address is where every simulated BMC listens.
const Address = "127.0.0.1"

// BMC is a running ipmi_sim. Its methods may be called from several
// goroutines.
type BMC struct {
	cfg Config // Port and Password filled in
	dir string // runtime files of this BMC
	cmd *exec.Cmd
	// exited is closed when cmd has been waited for.
	exited chan struct{}

	stopOnce sync.Once
}

// Start writes the BMC's files under cfg.Dir and starts ipmi_sim. It
// returns once ipmi_sim listens on its port. Start does not change the
// host's power: call SetPower to boot the host. The caller must call Stop.
func Start(ctx context.Context, cfg Config) (*BMC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, tool := range []string{"ipmi_sim", "ip", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("ipmisim: %s is needed (openipmi, iproute2, util-linux): %w", tool, err)
		}
	}
	if _, err := netns.Pids(ctx, cfg.Namespace); err != nil {
		return nil, fmt.Errorf("ipmisim: namespace %s: %w", cfg.Namespace, err)
	}
	if cfg.Password == "" {
		cfg.Password = randomHex(8)
	}
	b := &BMC{cfg: cfg, dir: filepath.Join(cfg.Dir, cfg.Namespace)}
	if err := b.writeFiles(); err != nil {
		return nil, err
	}

	ports := []int{cfg.Port}
	if cfg.Port == 0 {
		ports = candidatePorts()
	}
	var errs []error
	for _, port := range ports {
		// (In a listen namespace of its own the port is checked by start:
		// ipmi_sim exits when another holds it.)
		if cfg.ListenNamespace == "" && !udpFree(port) {
			continue
		}
		err := b.start(ctx, port)
		if err == nil {
			return b, nil
		}
		errs = append(errs, err)
		if len(errs) == 5 || ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("ipmisim: no free UDP port among %v", ports)
	}
	return nil, errors.Join(errs...)
}

// candidatePorts is FirstPort..LastPort from a random starting point, so
// that BMCs started by parallel test binaries rarely race for one port.
func candidatePorts() []int {
	n := LastPort - FirstPort + 1
	off := rand.IntN(n)
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FirstPort + (off+i)%n
	}
	return ports
}

// udpFree reports whether nobody holds UDP port on Address right now.
// Another process can still take it before ipmi_sim does; start notices.
func udpFree(port int) bool {
	c, err := net.ListenPacket("udp4", net.JoinHostPort(Address, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (b *BMC) writeFiles() error {
	if err := os.MkdirAll(filepath.Join(b.dir, "state"), 0o700); err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	var host strings.Builder
	host.WriteString("#!/bin/sh\n# The host's workload, started by chassis-control.sh on power on.\nexec ip netns exec ")
	host.WriteString(shellQuote(b.cfg.Namespace))
	for _, a := range b.cfg.HostCommand {
		host.WriteString(" " + shellQuote(a))
	}
	host.WriteString("\n")
	emu := "mc_setbmc 0x20\n" +
		"mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n" +
		"sel_enable 0x20 1000 0x0a\n" +
		"mc_enable 0x20\n" // without it ipmi_sim opens no LAN socket
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"chassis-control.sh", chassisControl, 0o755},
		{"host.sh", []byte(host.String()), 0o755},
		{"bmc.emu", []byte(emu), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(b.dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("ipmisim: %w", err)
		}
	}
	return nil
}

// lanConf is ipmi_sim's LAN configuration for port. It holds the password,
// so it is written 0600.
func (b *BMC) lanConf(port int) string {
	auths := "none md2 md5 straight"
	return fmt.Sprintf(`name "%s"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_callback %[4]s
    allowed_auths_user %[4]s
    allowed_auths_operator %[4]s
    allowed_auths_admin %[4]s
    guid %s
  endlan
  chassis_control "%s %s"
  user 2 true "%s" "%s" %s 10 %[4]s
`, b.cfg.Namespace, Address, port, auths, randomHex(16),
		filepath.Join(b.dir, "chassis-control.sh"), b.cfg.Namespace,
		b.cfg.Username, b.cfg.Password, b.cfg.Privilege)
}

// start runs ipmi_sim on port and waits until it holds the port, or exits
// (another process took the port first), or StartTimeout passes.
func (b *BMC) start(ctx context.Context, port int) error {
	if err := os.WriteFile(filepath.Join(b.dir, "lan.conf"), []byte(b.lanConf(port)), 0o600); err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	logf, err := os.Create(filepath.Join(b.dir, "sim.log"))
	if err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	defer logf.Close() // the child has its own copy
	// -n: no console on stdin (without it a /dev/null stdin makes ipmi_sim
	// abort on epoll).
	args := []string{"ipmi_sim", "-n",
		"-c", filepath.Join(b.dir, "lan.conf"),
		"-f", filepath.Join(b.dir, "bmc.emu"),
		"-s", filepath.Join(b.dir, "state")}
	if b.cfg.ListenNamespace != "" {
		// ip netns exec execs ipmi_sim in place: the pid stays the same.
		args = append([]string{"ip", "netns", "exec", b.cfg.ListenNamespace}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// child.Start gives it its own process group (Stop kills it with any
	// chassis-control.sh it runs) and kills it with a crashed test binary,
	// forked from a thread that lives as long as the process: a thread a
	// goroutine locked and ended (netns.DialContext's) would take its
	// children's Pdeathsig with it.
	if err := child.Start(cmd); err != nil {
		return fmt.Errorf("ipmisim: start ipmi_sim: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	b.cmd, b.exited = cmd, exited

	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if holdsUDPPort(cmd.Process.Pid, port) {
			b.cfg.Port = port
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("ipmisim: ipmi_sim for %s on port %d exited: %s", b.cfg.Namespace, port, b.simLog())
		case <-ctx.Done():
			b.kill()
			return fmt.Errorf("ipmisim: ipmi_sim for %s not listening on port %d: %w: %s", b.cfg.Namespace, port, ctx.Err(), b.simLog())
		case <-tick.C:
		}
	}
}

func (b *BMC) simLog() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "sim.log"))
	return strings.TrimSpace(string(out))
}

// kill SIGKILLs ipmi_sim's process group and waits for it.
func (b *BMC) kill() {
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	<-b.exited
}

// Stop kills ipmi_sim. The host keeps its power state: processes in the
// namespace keep running (the lab's Down removes them). Stop is safe to call
// more than once.
func (b *BMC) Stop() {
	b.stopOnce.Do(b.kill)
}

// ListenNamespace is the namespace whose Address the BMC listens on ("" the
// root namespace).
func (b *BMC) ListenNamespace() string { return b.cfg.ListenNamespace }

// Port is the BMC's UDP port on Address.
func (b *BMC) Port() int { return b.cfg.Port }

// Username is the BMC administrator's name.
func (b *BMC) Username() string { return b.cfg.Username }

// Password is the BMC administrator's password.
func (b *BMC) Password() string { return b.cfg.Password }

// Namespace is the host namespace the BMC powers.
func (b *BMC) Namespace() string { return b.cfg.Namespace }

// PoweredOn reports the host's true power state: whether any process lives
// in its namespace. It does not ask the BMC.
func (b *BMC) PoweredOn(ctx context.Context) (bool, error) {
	pids, err := netns.Pids(ctx, b.cfg.Namespace)
	return len(pids) > 0, err
}

// SetPower switches the host on or off the way the BMC does, without going
// through IPMI: use it to boot the host before a test.
func (b *BMC) SetPower(ctx context.Context, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	cmd := exec.CommandContext(ctx, filepath.Join(b.dir, "chassis-control.sh"), b.cfg.Namespace, "set", "power", v)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ipmisim: set power %s on %s: %w: %s", v, b.cfg.Namespace, err, bytes.TrimSpace(out))
	}
	return nil
}

// Logs returns ipmi_sim's output and the power log, for a failing test to
// print.
func (b *BMC) Logs() string {
	power, _ := os.ReadFile(filepath.Join(b.dir, "power.log"))
	return fmt.Sprintf("ipmi_sim %s:%d (%s)\n--- sim.log\n%s\n--- power.log\n%s",
		Address, b.cfg.Port, b.cfg.Namespace, b.simLog(), strings.TrimSpace(string(power)))
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = cryptorand.Read(b)
	return hex.EncodeToString(b)
}
