package journal

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/testbed/etcd"
)

// actingPolicy is a test double of controller.Policy (our own interface,
// not an outside component): it decides one fence of cmp1 on every tick,
// so every tick of a leader is an action that must be journaled first and
// must never be carried out by two members at once.
type actingPolicy struct{ seq uint64 }

func (p *actingPolicy) AddHost(decision.HostInfo)                 {}
func (p *actingPolicy) Step(time.Time, decision.Input)            {}
func (p *actingPolicy) Restore([]decision.Record)                 {}
func (p *actingPolicy) RestoreSnapshot([]decision.Record, uint64) {}
func (p *actingPolicy) Status() []decision.HostStatus             { return nil }
func (p *actingPolicy) Grant(time.Time, decision.AgentReport) (decision.Grant, error) {
	return decision.Grant{}, nil
}
func (p *actingPolicy) Tick(time.Time) decision.Ready {
	p.seq++
	return decision.Ready{Seq: p.seq, Actions: []decision.Action{{Kind: decision.ActFence, Host: "cmp1", Level: 1}}}
}

// logExec writes "<unix nanos> <member>" for every action it carries out.
type logExec struct {
	mu     sync.Mutex
	w      io.Writer
	member string
}

func (x *logExec) Execute(_ context.Context, a decision.Action) {
	x.mu.Lock()
	defer x.mu.Unlock()
	fmt.Fprintf(x.w, "%d %s\n", time.Now().UnixNano(), x.member)
}

func runMember(ctx context.Context, url, name string, out io.Writer, afterWrite func()) error {
	s := &etcd.Server{URL: url}
	cli, err := s.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	j := New(cli, "/vigil-runner/", 2)
	l := controller.New(func() controller.Policy { return &actingPolicy{} }, nil, j)
	r := controller.NewRunner(name, l, j, &logExec{w: out, member: name}, func(decision.Ack) {}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.AfterWrite = afterWrite
	return r.Run(ctx)
}

// TestHelperMember is not a test: it is the other controller process of
// TestStalledLeaderNeverActsAgain, run by it.
func TestHelperMember(t *testing.T) {
	ep := os.Getenv("VIGIL_JOURNAL_MEMBER")
	if ep == "" {
		t.Skip("run by TestStalledLeaderNeverActsAgain")
	}
	ticks := 0
	err := runMember(context.Background(), ep, "a", os.Stdout, func() {
		if ticks++; ticks == 8 {
			// Stopped right after a Ready was written, before its
			// action: the parent continues it after 5 s.
			fmt.Println("stopping")
			_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
			time.Sleep(100 * time.Millisecond) // the stop lands here, not an instruction later
			fmt.Println("continued")
		}
	})
	if err != nil {
		fmt.Println("member error:", err)
	}
}

// A leader stopped (SIGSTOP) past its lease and then continued must not act
// again: not after its successor started, not at all once its deadline is
// gone. Two controller processes against Debian's etcd; the first leads and
// acts on every tick, is stopped for 5 s (its lease is 2 s), and continued;
// the second is elected meanwhile. The stop comes between writing a Ready
// and carrying out its action, where the journal's guard cannot help: the
// write had committed. No action of the first may come after its stop.
func TestStalledLeaderNeverActsAgain(t *testing.T) {
	s := startEtcd(t)
	child := exec.Command(os.Args[0], "-test.run=^TestHelperMember$", "-test.v")
	child.Env = append(os.Environ(), "VIGIL_JOURNAL_MEMBER="+s.URL)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Signal(syscall.SIGCONT); _ = child.Process.Kill(); _ = child.Wait() })
	var mu sync.Mutex
	var aActs []int64
	acting := make(chan struct{}, 1)
	stopping := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "member error:") {
				fmt.Fprintln(os.Stderr, sc.Text()) // the test may have ended: no t.Log here
			}
			if sc.Text() == "stopping" {
				select {
				case stopping <- time.Now():
				default:
				}
				continue
			}
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[1] == "a" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				mu.Lock()
				aActs = append(aActs, n)
				mu.Unlock()
				select {
				case acting <- struct{}{}:
				default:
				}
			}
		}
	}()
	select {
	case <-acting:
	case <-time.After(20 * time.Second):
		t.Fatal("the first controller never led")
	}
	var stoppedAt time.Time
	select {
	case stoppedAt = <-stopping: // it stops itself between a write and its action
	case <-time.After(20 * time.Second):
		t.Fatal("the first controller did not stop itself")
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = runMember(ctx, s.URL, "b", pw, nil) }()
	first := make(chan int64, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			n, _ := strconv.ParseInt(f[0], 10, 64)
			select {
			case first <- n:
			default:
			}
		}
	}()
	var bFirst int64
	select {
	case bFirst = <-first:
	case <-time.After(15 * time.Second):
		t.Fatal("the second controller was not elected while the first was stopped")
	}
	time.Sleep(time.Until(stoppedAt.Add(5 * time.Second)))
	if err := child.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	late := 0
	for _, at := range aActs {
		if at >= bFirst || at > stoppedAt.UnixNano() {
			late++
		}
	}
	t.Logf("first leader: %d actions before its stop; second elected %v after the stop", len(aActs), time.Unix(0, bFirst).Sub(stoppedAt).Round(time.Millisecond))
	if late > 0 {
		t.Fatalf("TWO LEADERS ACTED: the stalled leader carried out %d actions after it was stopped past its lease (the successor's first at %v)", late, time.Unix(0, bFirst))
	}
}
