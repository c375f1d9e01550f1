package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		code   int
		want   fence.Status
		wantOK bool
	}{
		{0, fence.StatusOn, true},
		{2, fence.StatusOff, true},
		{1, fence.StatusUnknown, false},
		{3, fence.StatusUnknown, false},
		{-1, fence.StatusUnknown, false},
	}
	for _, tt := range tests {
		got, ok := statusOf(tt.code)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("statusOf(%d) = %v, %t; want %v, %t", tt.code, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestStdin(t *testing.T) {
	c := fakeConfig(fakeAgentDir(t))
	c.Lanplus = true
	c.CipherSuite = 3
	c.Options = map[string]string{"power_timeout": "30", "method": "cycle"}
	d, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "action=off\nip=10.10.0.100\nipport=623\nusername=admin\npassword=" + secret +
		"\nlanplus=1\ncipher=3\nmethod=cycle\npower_timeout=30\n"
	if diff := cmp.Diff(want, d.stdin("off")); diff != "" {
		t.Errorf("stdin (-want +got):\n%s", diff)
	}

	c.Address, c.Port, c.Username, c.Password, c.Lanplus, c.CipherSuite, c.Options = "", 0, "", "", false, 0, nil
	if d, err = New(c, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("action=status\n", d.stdin("status")); diff != "" {
		t.Errorf("minimal stdin (-want +got):\n%s", diff)
	}
}

// fake is a Device running testdata/fence_fake in its own directory.
type fake struct {
	dir string
	d   *Device
}

func newFake(t *testing.T, mode, state string, edit func(*Config)) *fake {
	t.Helper()
	dir := fakeAgentDir(t)
	for name, v := range map[string]string{"mode": mode, "state": state} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := fakeConfig(dir)
	c.PollInterval = 10 * time.Millisecond
	c.PowerWait = 0 // two agreeing status runs (fence.PowerCheck has its own tests)
	c.RunTimeout = 5 * time.Second
	c.OffTimeout = 5 * time.Second
	c.OnTimeout = 5 * time.Second
	if edit != nil {
		edit(&c)
	}
	d, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fake{dir: dir, d: d}
}

func (f *fake) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// checkArgv fails t unless every run got no arguments and the password
// reached the agent through stdin.
func (f *fake) checkArgv(t *testing.T) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(f.file(t, "argv.log")), "\n") {
		if l != "0:" {
			t.Errorf("agent run with arguments %q, want none", l)
		}
	}
	if !strings.Contains(f.file(t, "stdin.log"), "password="+secret+"\n") {
		t.Error("password did not reach the agent's stdin")
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name, mode, state string
		want              fence.Status
		wantCode          int // for an *ExitError; 0 = no error
	}{
		{"on", "", "on", fence.StatusOn, 0},
		{"off", "", "off", fence.StatusOff, 0},
		{"agent fails", "fail", "on", fence.StatusUnknown, 1},
		{"unexpected code", "exit3", "on", fence.StatusUnknown, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.mode, tt.state, nil)
			got, err := f.d.Status(context.Background())
			var exit *ExitError
			switch {
			case got != tt.want:
				t.Errorf("Status() = %v, %v; want %v", got, err, tt.want)
			case tt.wantCode == 0 && err != nil:
				t.Errorf("Status() error = %v, want nil", err)
			case tt.wantCode != 0 && (!errors.As(err, &exit) || exit.Code != tt.wantCode || exit.Action != "status"):
				t.Errorf("Status() error = %v, want an *ExitError with code %d", err, tt.wantCode)
			}
			f.checkArgv(t)
		})
	}
}

func TestOff(t *testing.T) {
	tests := []struct {
		name, mode string
		wantErr    error // nil = a Proof is expected
		wantExit   int   // for an *ExitError
		wantRuns   int   // status runs the proof reports (two agreeing ones at the end)
	}{
		{name: "verified at once", wantRuns: 2},
		{name: "verified on third status", mode: "slow-off", wantRuns: 4},
		{name: "agent says off but host stays on", mode: "off-lies", wantErr: fence.ErrNotVerified},
		{name: "status keeps failing", mode: "status-fails", wantErr: fence.ErrNotVerified},
		{name: "off fails", mode: "fail", wantExit: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.mode, "on", func(c *Config) {
				if tt.wantErr != nil { // it will wait out OffTimeout
					// Long enough for the off run even on a loaded machine.
					c.OffTimeout, c.RunTimeout = time.Second, time.Second
				}
			})
			proof, err := f.d.Off(context.Background())
			var exit *ExitError
			switch {
			case tt.wantExit != 0:
				if !errors.As(err, &exit) || exit.Code != tt.wantExit || exit.Action != "off" {
					t.Fatalf("Off() = %v, want an *ExitError with code %d", err, tt.wantExit)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Off() = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("Off() = %v, want a proof", err)
			default:
				if proof.Driver != "fence-agent" || !strings.Contains(proof.Detail, "("+strconv.Itoa(tt.wantRuns)+" reads)") || proof.Power == nil || len(proof.Power.Reads) < 2 {
					t.Errorf("Off() proof = %+v, want fence-agent verified on status run %d", proof, tt.wantRuns)
				}
			}
			if err != nil && proof != (fence.Proof{}) {
				t.Errorf("Off() failed but returned proof %+v", proof)
			}
			f.checkArgv(t)
		})
	}
}

func TestExitErrorHidesPassword(t *testing.T) {
	f := newFake(t, "fail", "on", nil)
	_, err := f.d.Off(context.Background())
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Off() = %v, want an *ExitError", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(exit.Message, "Unable to connect/login to fencing device as <redacted>") {
		t.Errorf("ExitError.Message = %q, want the agent's last words with the password cut out", exit.Message)
	}
}

func TestOnAndMonitor(t *testing.T) {
	f := newFake(t, "", "off", nil)
	if err := f.d.On(context.Background()); err != nil {
		t.Fatalf("On() = %v", err)
	}
	if got := strings.TrimSpace(f.file(t, "state")); got != "on" {
		t.Errorf("fake state after On = %q, want on", got)
	}
	if err := f.d.Monitor(context.Background()); err != nil {
		t.Errorf("Monitor() = %v", err)
	}
	var exit *ExitError
	if err := newFake(t, "fail", "on", nil).d.Monitor(context.Background()); !errors.As(err, &exit) {
		t.Errorf("Monitor() of a failing agent = %v, want an *ExitError", err)
	}
	f.checkArgv(t)
}

// A hung agent is killed at RunTimeout with the helpers it started, and the
// run counts as "no answer".
func TestHungAgentIsKilled(t *testing.T) {
	// Long enough for the fake to start its helper even on a loaded machine.
	f := newFake(t, "hang", "on", func(c *Config) { c.RunTimeout = time.Second })
	start := time.Now()
	_, err := f.d.Status(context.Background())
	if !errors.Is(err, fence.ErrUnreachable) || time.Since(start) > 5*time.Second {
		t.Fatalf("Status() = %v after %v, want ErrUnreachable soon after RunTimeout", err, time.Since(start))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(f.file(t, "helper.pid")))
	if err != nil {
		t.Fatalf("helper.pid: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("helper %d of the killed agent still runs", pid)
		}
		<-tick.C
	}
}

func TestCancelIsNotUnreachable(t *testing.T) {
	f := newFake(t, "hang", "on", nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := f.d.Status(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, fence.ErrUnreachable) {
		t.Fatalf("Status() = %v, want context.Canceled and not ErrUnreachable", err)
	}
}

// An agent and its helpers once inherited vigil's whole environment, and
// with it every password_env secret of every device. It gets PATH and a
// locale, nothing else.
func TestAgentGetsAMinimalEnvironment(t *testing.T) {
	t.Setenv("VIGIL_OTHER_BMC_PASSWORD", "other-device-secret")
	f := newFake(t, "", "on", nil)
	if _, err := f.d.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	env := f.file(t, "env.log")
	if strings.Contains(env, "other-device-secret") || strings.Contains(env, "VIGIL_OTHER_BMC_PASSWORD") {
		t.Errorf("the agent saw another device's secret:\n%s", env)
	}
	if !strings.Contains(env, "PATH=") {
		t.Errorf("the agent got no PATH:\n%s", env)
	}
}

// Secret options (fence_ipmilan's hexadecimal_kg) go to stdin only and
// are cut out of the agent's output like the password.
func TestSecretOptionsOnStdinOnly(t *testing.T) {
	f := newFake(t, "fail", "on", func(c *Config) { c.Secrets = map[string]string{"hexadecimal_kg": "c0ffee"} })
	_, err := f.d.Off(context.Background())
	if err == nil || strings.Contains(err.Error(), "c0ffee") {
		t.Fatalf("Off() = %v, want a failure without the K_g", err)
	}
	if !strings.Contains(f.file(t, "stdin.log"), "hexadecimal_kg=c0ffee\n") {
		t.Error("the secret option did not reach the agent's stdin")
	}
	if s := f.d.cfg.String(); strings.Contains(s, "c0ffee") {
		t.Errorf("String() = %s", s)
	}
	f.checkArgv(t)
}

// Diag runs action=diag only on an agent whose metadata offers it; one that
// does not is ErrDiagUnsupported before anything is sent, and a refusal by
// the device is an ExitError.
func TestDiag(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, "", "on", nil)
	if _, err := f.d.Diag(ctx); !errors.Is(err, fence.ErrDiagUnsupported) {
		t.Fatalf("an agent without diag: %v, want ErrDiagUnsupported", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "diag.log")); err == nil {
		t.Fatal("diag was sent to an agent that does not offer it")
	}
	if err := os.WriteFile(filepath.Join(f.dir, "diag"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := f.d.Diag(ctx)
	if err != nil || !strings.Contains(out, "action=diag exited 0") {
		t.Fatalf("diag: %q, %v", out, err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.dir, "diag.log")); string(b) != "diag\n" {
		t.Fatalf("the agent ran diag %q times, want once", b)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "mode"), []byte("diag-refused\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if _, err := f.d.Diag(ctx); !errors.As(err, &ee) || ee.Action != "diag" {
		t.Fatalf("a refused diag: %v, want an ExitError of action diag", err)
	}
}
