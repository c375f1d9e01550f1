package probe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// fakeProc writes a proc file system with the given stat lines under a
// temporary root (btime 1764755000).
func fakeProc(t *testing.T, procs map[int]string) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "stat"), "cpu 1 2 3\nbtime 1764755000\n")
	write(filepath.Join(root, "self", "stat"), "1 (self) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n")
	for pid, line := range procs {
		d := filepath.Join(root, fmt.Sprint(pid))
		write(filepath.Join(d, "stat"), line)
		write(filepath.Join(d, "cmdline"), "")
	}
	return root
}

func statLine(pid int, comm string, state byte, start uint64) string {
	return fmt.Sprintf("%d (%s) %c 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 10\n", pid, comm, state, start)
}

func TestProcProbeReportsTheOldestLiveMatch(t *testing.T) {
	root := fakeProc(t, map[int]string{
		300: statLine(300, "libvirtd", 'S', 5000), // a helper forked later
		200: statLine(200, "libvirtd", 'S', 1234), // the daemon
		100: statLine(100, "libvirtd", 'Z', 10),   // an old one, exited, not yet reaped
		400: statLine(400, "bash", 'S', 1),
	})
	p, err := NewProcProbe(ProcConfig{Root: root, Name: "libvirtd"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// btime + 1234 ticks of 10 ms.
	want := Sample{Running: true, Instance: "pid 200", Started: time.Unix(1764755000, 0).Add(12340 * time.Millisecond)}
	if got.Running != want.Running || got.Instance != want.Instance || !got.Started.Equal(want.Started) {
		t.Fatalf("Sample = %+v, want %+v", got, want)
	}
	// The daemon exits: the helper is what is left, a new run.
	if err := os.RemoveAll(filepath.Join(root, "200")); err != nil {
		t.Fatal(err)
	}
	if got, _ = p.Sample(context.Background()); got.Instance != "pid 300" {
		t.Fatalf("after the daemon exited, Sample = %+v, want pid 300", got)
	}
}

func TestProcProbeConfig(t *testing.T) {
	for _, cfg := range []ProcConfig{{Root: "proc", Name: "libvirtd"}, {Root: "/proc", Name: ""}, {Root: "/proc", Name: "/usr/sbin/libvirtd"}} {
		if _, err := NewProcProbe(cfg); err == nil {
			t.Errorf("NewProcProbe(%+v): want an error", cfg)
		}
	}
	p, err := NewProcProbe(ProcConfig{Root: filepath.Join(t.TempDir(), "nothing"), Name: "libvirtd"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sample(context.Background()); err == nil {
		t.Error("Sample of a missing proc root: want an error, not \"not running\"")
	}
}

// service runs real processes that look like a packaged service to /proc.
type service struct {
	t    *testing.T
	argv []string
	cmd  *exec.Cmd
}

func (s *service) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.argv[0], s.argv[1:]...)
	// Its own process group, killed whole: the decoy's shell runs sleep
	// as a child, which outlived it (and held whatever files the test
	// process had open: CI's lock) before.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(s.stop)
}

func (s *service) stop() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		_ = s.cmd.Wait() // reaped: no zombie left for the probe to skip
	}
}

// TestProcProbeSeesRealRestarts starts, kills and restarts real processes
// and checks what the agent would report after each step.
func TestProcProbeSeesRealRestarts(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1):", err)
	}
	// Debian's python, as nova-compute runs under (a pyenv shim would
	// run a shell first).
	const python = "/usr/bin/python3"
	_, pyErr := os.Stat(python)
	// A binary started through a link named like the service: its comm is
	// the link's name, as /usr/sbin/libvirtd's is libvirtd.
	// Names of this run's own: the machine may run a real libvirtd or
	// nova-compute (the project's own test harnesses start them, perhaps
	// in parallel with this test), which the probe would rightly find.
	lv, nc := fmt.Sprintf("lvd-%d", os.Getpid()), fmt.Sprintf("nvc-%d", os.Getpid()) // within comm's 15 bytes
	if err := os.Symlink(sleep, filepath.Join(dir, lv)); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, nc)
	if err := os.WriteFile(script, []byte("#!"+python+"\nimport time\ntime.sleep(1000)\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, svc string
		argv      []string
		python    bool
	}{
		{"binary", lv, []string{filepath.Join(dir, lv), "1000"}, false},
		// Run through its #! line: comm is the script's name.
		{"script", nc, []string{script}, true},
		// python3 /path/nova-compute: comm is python3, argv[1] names it.
		{"interpreter", nc, []string{python, script}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.python && pyErr != nil {
				t.Skip("no Debian python3:", pyErr)
			}
			// A process whose later argument names the service is no match.
			decoy := &service{t: t, argv: []string{"/bin/sh", "-c", "sleep 1000", tc.svc}}
			decoy.start()
			p, err := NewProcProbe(DefaultProcConfig(tc.svc))
			if err != nil {
				t.Fatal(err)
			}
			var tr Tracker
			check := func(step string, want decision.Process) Sample {
				t.Helper()
				s, err := p.Sample(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if got := tr.Observe(s); got != want {
					t.Fatalf("%s: report %+v, want %+v (sample %+v)", step, got, want, s)
				}
				return s
			}
			check("before start", decision.Process{Running: false})
			svc := &service{t: t, argv: tc.argv}
			before := time.Now()
			svc.start()
			s := check("started", decision.Process{Running: true, Restarts: 1})
			if want := fmt.Sprintf("pid %d", svc.cmd.Process.Pid); s.Instance != want {
				t.Errorf("instance %q, want %q", s.Instance, want)
			}
			// btime has a resolution of a second, start ticks of 10 ms.
			if d := s.Started.Sub(before); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("started %v, %v away from the start", s.Started, d)
			}
			check("still running", decision.Process{Running: true, Restarts: 1})
			svc.stop()
			check("killed", decision.Process{Running: false, Restarts: 1})
			svc.start()
			check("started again", decision.Process{Running: true, Restarts: 2})
			// Killed and started again between two samples: a new pid and
			// start time, so one more restart, though no sample saw it down.
			svc.stop()
			svc.start()
			check("restarted between samples", decision.Process{Running: true, Restarts: 3})
		})
	}
}
