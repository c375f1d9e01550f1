package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// Output kept from one run, and shown in an ExitError.
const (
	keepOutput   = 64 << 10
	messageLines = 3
	messageBytes = 400
)

// run runs the agent once for action, with its options on stdin, and
// returns its exit code and the end of its output (password cut out). err
// is set only when the agent did not exit by itself: it could not start, it
// was killed at RunTimeout or ctx's deadline (fence.ErrUnreachable: the
// device gave it no answer in time), or ctx was cancelled.
func (d *Device) run(ctx context.Context, action string) (code int, msg string, err error) {
	runCtx, cancel := context.WithTimeout(ctx, d.cfg.RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, d.path) // no arguments: the agent reads stdin
	cmd.Stdin = strings.NewReader(d.stdin(action))
	// Not vigil's environment: it holds every password_env secret.
	cmd.Env = agentEnv
	out := &tail{max: keepOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// The agent runs helpers (ipmitool, curl, ssh): kill them with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a helper left holding the output pipe

	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start)
	msg = d.message(out.String())
	switch {
	case runCtx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return 0, msg, fmt.Errorf("agent: %s action=%s: %w", d.cfg.Agent, action, ctx.Err())
	case runCtx.Err() != nil:
		d.log.Warn("fence agent killed", "action", action, "elapsed", elapsed)
		return 0, msg, fmt.Errorf("agent: %s action=%s: no result within %v, killed: %w: %w",
			d.cfg.Agent, action, elapsed.Round(time.Millisecond), fence.ErrUnreachable, runCtx.Err())
	case cmd.ProcessState != nil && cmd.ProcessState.Exited():
		code = cmd.ProcessState.ExitCode()
		d.log.Debug("fence agent ran", "action", action, "code", code, "elapsed", elapsed)
		return code, msg, nil
	}
	return 0, msg, fmt.Errorf("agent: %s action=%s: %w (%s)", d.cfg.Agent, action, runErr, msg)
}

// agentEnv is the whole environment of an agent and its helpers: a fixed
// PATH (fence-agents find ipmitool, snmpget and ssh there) and a locale
// that keeps their output in English for people reading an ExitError.
var agentEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
}

// message is the last few non-empty lines of out, password and secret
// options cut out, short enough for an error.
func (d *Device) message(out string) string {
	for _, secret := range append([]string{d.cfg.Password}, slices.Collect(maps.Values(d.cfg.Secrets))...) {
		if secret != "" {
			out = strings.ReplaceAll(out, secret, "<redacted>")
		}
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		// Python's deprecation warnings (Debian 12's fence-agents print
		// "'pipes' is deprecated") crowd out the agent's own words.
		if l == "" || strings.Contains(l, "DeprecationWarning") || strings.HasPrefix(l, "import ") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > messageLines {
		lines = lines[len(lines)-messageLines:]
	}
	msg := strings.Join(lines, " | ")
	if len(msg) > messageBytes {
		msg = "..." + msg[len(msg)-messageBytes:]
	}
	return msg
}

// tail keeps the last max bytes written to it. exec.Cmd writes to it from
// one goroutine at a time when it is both Stdout and Stderr.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
