package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Gate is the guest-start gate: no guest starts on a host whose agent
// holds no fresh grant that lets guests start (Contract.MayStartGuests).
// The watchdog contract rests on it: after a reset, the next boot runs no
// guest until the leader has placed it, and none while an incident holds
// the host's fence, when its instances may be starting elsewhere
// (docs/architecture.md, "The watchdog contract"). libvirt asks it through
// its qemu hook (`vigil gate`, run by libvirtd before every start,
// incoming migration and restore), which connects to the agent's socket;
// the agent's loop sets what the gate answers after every grant and every
// tick, so the hook never waits for the loop.
type Gate struct {
	clock func() time.Duration
	until atomic.Int64 // CLOCK_BOOTTIME ns: guests may start while clock() < until
}

// NewGate is a gate reading the contract's clock (BootTime); it refuses
// every start until Set.
func NewGate(clock func() time.Duration) *Gate { return &Gate{clock: clock} }

// Set says guests may start until the given reading of the clock.
func (g *Gate) Set(until time.Duration) { g.until.Store(int64(until)) }

// Allowed answers now: whether a guest may start, and if not, why.
func (g *Gate) Allowed() (bool, string) {
	if now := g.clock(); now < time.Duration(g.until.Load()) {
		return true, ""
	}
	return false, "no fresh grant from vigil's leader lets guests start on this host (it is cut off from the controllers, an incident holds its fence and its instances may be starting elsewhere, or vigil has not placed this agent yet)"
}

// gateRequestMax bounds a request line: "start GUEST OP".
const gateRequestMax = 512

// Serve answers every connection on l until ctx ends: one request line,
// one answer ("yes", or "no REASON"), then the connection closes.
func (g *Gate) Serve(ctx context.Context, l net.Listener) error {
	go func() { <-ctx.Done(); _ = l.Close() }()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("agent: gate: %w", err)
			}
			// A passing error (EMFILE: out of file descriptors): the
			// hook's callers wait; try again shortly.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		go g.answer(conn)
	}
}

func (g *Gate) answer(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReaderSize(conn, gateRequestMax).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "start ") {
		_, _ = fmt.Fprintln(conn, "no malformed request: want \"start GUEST OPERATION\"")
		return
	}
	if ok, why := g.Allowed(); !ok {
		_, _ = fmt.Fprintln(conn, "no "+why)
		return
	}
	_, _ = fmt.Fprintln(conn, "yes")
}

// ListenGate makes the gate's unix socket at path (replacing a stale one
// of an earlier process: the state_dir lock says none runs). Anyone who
// may connect may only ask; mode 0666 lets libvirtd's hook in, whatever
// user or container it runs as, wherever the directory lets it reach.
func ListenGate(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agent: gate socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent: gate socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("agent: gate socket %s: %w", path, err)
	}
	return l, nil
}

// AskGate asks the agent at socket whether guest may start (operation is
// libvirt's: prepare, migrate, restore). It fails closed: no answer is a
// refusal, with the reason.
func AskGate(ctx context.Context, socket, guest, operation string) (bool, string) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return false, fmt.Sprintf("no answer from the vigil agent at %s (%v): guests do not start while it does not run; start it (vigil agent), or, to run guests without vigil's gate, remove the libvirt hook", socket, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "start %s %s\n", oneWord(guest), oneWord(operation)); err != nil {
		return false, fmt.Sprintf("the vigil agent at %s did not take the question: %v", socket, err)
	}
	line, err := bufio.NewReaderSize(conn, gateRequestMax*2).ReadString('\n')
	if err != nil {
		return false, fmt.Sprintf("no answer from the vigil agent at %s: %v", socket, err)
	}
	line = strings.TrimSpace(line)
	if line == "yes" {
		return true, ""
	}
	return false, strings.TrimPrefix(line, "no ")
}

// oneWord keeps s on one line and one word of the request.
func oneWord(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' {
			return '_'
		}
		return r
	}, s)
}

// GateInstalled reports whether libvirt's qemu hook at path runs vigil
// gate (a script that execs it, as docs/agent.md shows): the host's
// heartbeat says so, and only then may a new boot's heartbeat prove its
// predecessor ended (decision.StorageBoot).
func GateInstalled(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 || fi.Size() > 64<<10 {
		return false
	}
	b, err := os.ReadFile(path)
	return err == nil && hookRunsGate.Match(b)
}

var hookRunsGate = regexp.MustCompile(`(?m)^\s*(exec\s+)?\S*vigil\s+gate\b`)
