package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ha/vigil/internal/fence"
)

const driverName = "fence-agent"

var _ fence.Device = (*Device)(nil)

// Exit codes of the fence agent protocol.
const (
	exitOK  = 0 // success; for status: on
	exitErr = 1 // any failure
	exitOff = 2 // status: off
)

// ExitError is an agent run that ended with an exit code that is not
// success for its action.
type ExitError struct {
	Agent  string
	Action string
	Code   int
	// Message is the end of the agent's output, with the password cut out.
	// It is for people; the driver does not interpret it.
	Message string
}

func (e *ExitError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no output"
	}
	return fmt.Sprintf("agent: %s action=%s exited %d: %s", e.Agent, e.Action, e.Code, msg)
}

// statusOf maps the exit code of action=status.
func statusOf(code int) (fence.Status, bool) {
	switch code {
	case exitOK:
		return fence.StatusOn, true
	case exitOff:
		return fence.StatusOff, true
	}
	return fence.StatusUnknown, false
}

// Device fences one host by running a fence agent.
type Device struct {
	cfg  Config
	path string // the agent's resolved path
	log  *slog.Logger
}

// New checks cfg, finds the agent and returns a Device. It does not run the
// agent. A nil logger discards.
func New(cfg Config, log *slog.Logger) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path, err := cfg.agentPath()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Options = maps.Clone(cfg.Options)
	cfg.Secrets = maps.Clone(cfg.Secrets)
	return &Device{cfg: cfg, path: path, log: log.With("driver", driverName, "agent", cfg.Agent)}, nil
}

// Off runs action=off, then action=status until the agent has reported off
// for PowerWait on consecutive runs, all within OffTimeout (or ctx's
// deadline, if sooner). Only those status runs are taken as proof.
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OffTimeout)
	defer cancel()
	r, err := d.switchAndVerify(ctx, "off", fence.StatusOff)
	if err != nil {
		return fence.Proof{}, err
	}
	return fence.Proof{
		Driver: driverName,
		Detail: fmt.Sprintf("%s action=off exited 0; action=status exited 2 (off): %s", d.cfg.Agent, r),
		Power:  r.Proof(),
	}, nil
}

// On runs action=on, then action=status until the agent reports on
// likewise, all within OnTimeout (or ctx's deadline, if sooner).
func (d *Device) On(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OnTimeout)
	defer cancel()
	_, err := d.switchAndVerify(ctx, "on", fence.StatusOn)
	return err
}

// Status runs action=status: exit 0 is on, 2 is off.
func (d *Device) Status(ctx context.Context) (fence.Status, error) {
	code, msg, err := d.run(ctx, "status")
	if err != nil {
		return fence.StatusUnknown, err
	}
	st, ok := statusOf(code)
	if !ok {
		return fence.StatusUnknown, d.exitError("status", code, msg)
	}
	return st, nil
}

// Monitor runs action=monitor: whether the agent can reach and log in to the
// device.
func (d *Device) Monitor(ctx context.Context) error {
	code, msg, err := d.run(ctx, "monitor")
	if err != nil {
		return err
	}
	if code != exitOK {
		return d.exitError("monitor", code, msg)
	}
	return nil
}

// Diag runs action=diag: the agents that offer it (fence_ipmilan,
// fence_redfish, fence_idrac, ...) have the BMC send a diagnostic
// interrupt, so a hung kernel panics into its kdump. An agent whose
// metadata lists no diag action fails with fence.ErrDiagUnsupported before
// anything is sent; so does one that cannot be asked for its metadata.
func (d *Device) Diag(ctx context.Context) (string, error) {
	ok, err := d.offers(ctx, "diag")
	if err != nil {
		return "", fmt.Errorf("agent: %s: reading its metadata: %v: %w", d.cfg.Agent, err, fence.ErrDiagUnsupported)
	}
	if !ok {
		return "", fmt.Errorf("agent: %s offers no diag action: %w", d.cfg.Agent, fence.ErrDiagUnsupported)
	}
	code, msg, err := d.run(ctx, "diag")
	if err != nil {
		return "", err
	}
	if code != exitOK {
		return "", d.exitError("diag", code, msg)
	}
	d.log.Info("fence agent sent a diagnostic interrupt")
	return d.cfg.Agent + " action=diag exited 0: diagnostic interrupt sent", nil
}

// offers reports whether the agent's metadata (`-o metadata`, which needs
// no device and no secret) lists action.
func (d *Device) offers(ctx context.Context, action string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.path, "-o", "metadata")
	cmd.Env = agentEnv
	out, err := cmd.Output()
	if err != nil {
		return false, err
	}
	return strings.Contains(string(out), `<action name="`+action+`"`), nil
}

var _ fence.Diagnoser = (*Device)(nil)

// switchAndVerify runs action, then status through fence.PowerCheck.
func (d *Device) switchAndVerify(ctx context.Context, action string, want fence.Status) (fence.PowerReading, error) {
	code, msg, err := d.run(ctx, action)
	if err != nil {
		return fence.PowerReading{}, err
	}
	if code != exitOK {
		return fence.PowerReading{}, d.exitError(action, code, msg)
	}
	d.log.Info("fence agent action succeeded", "power", action)
	check := fence.PowerCheck{Interval: d.cfg.PollInterval, Wait: d.cfg.PowerWait}
	r, err := check.Await(ctx, want, d.Status, d.log.With("power", action))
	if err != nil {
		return r, fmt.Errorf("agent: %s action=%s: %w", d.cfg.Agent, action, err)
	}
	d.log.Info("fence agent power verified", "power", action, "attempt", r.Reads)
	return r, nil
}

func (d *Device) exitError(action string, code int, msg string) error {
	return &ExitError{Agent: d.cfg.Agent, Action: action, Code: code, Message: msg}
}

// stdin is the agent's input for action: one key=value per line. It holds
// the password and the secret options and must go nowhere but the agent's
// stdin.
func (d *Device) stdin(action string) string {
	var b strings.Builder
	line := func(k, v string) { b.WriteString(k + "=" + v + "\n") }
	line("action", action)
	if d.cfg.Address != "" {
		line("ip", d.cfg.Address)
	}
	if d.cfg.Port != 0 {
		line("ipport", strconv.Itoa(d.cfg.Port))
	}
	if d.cfg.Username != "" {
		line("username", d.cfg.Username)
	}
	if d.cfg.Password != "" {
		line("password", d.cfg.Password)
	}
	if d.cfg.Lanplus {
		line("lanplus", "1")
	}
	if d.cfg.CipherSuite != 0 {
		line("cipher", strconv.Itoa(d.cfg.CipherSuite))
	}
	for _, k := range slices.Sorted(maps.Keys(d.cfg.Options)) {
		line(k, d.cfg.Options[k])
	}
	for _, k := range slices.Sorted(maps.Keys(d.cfg.Secrets)) {
		line(k, d.cfg.Secrets[k])
	}
	return b.String()
}
