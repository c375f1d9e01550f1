package agent

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Adversarial review 18 (gate, 8f60824 … 1291ef0).

// flakyListener fails its first Accept as accept(2) does when the process
// is out of file descriptors (EMFILE, wrapped as net.OpError): a passing
// condition, the next Accept succeeds.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: fmt.Errorf("accept4: %w", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAttack18GateDiesOnATransientAcceptError (liveness: every guest start
// refused until the agent restarts). Gate.Serve returns on any Accept
// error that is not a timeout, EMFILE and ENFILE included (a burst of
// hook calls, libvirt connections and probes on a busy host): the daemon
// logs "guest-start gate stopped" and runs on without a gate, the listener
// still open (Serve does not close it), so every later hook call connects,
// waits its 5 s for an answer that never comes, and the start is refused
// after --wait: Nova puts every new, migrated and evacuated-to instance of
// the host in ERROR while its agent holds fresh grants. net/http's Serve
// retries such errors with a backoff.
func TestAttack18GateDiesOnATransientAcceptError(t *testing.T) {
	g := NewGate(func() time.Duration { return time.Second })
	g.Set(time.Hour) // a fresh grant that lets guests start
	sock := filepath.Join(t.TempDir(), "gate.sock")
	l, err := ListenGate(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, &flakyListener{Listener: l}) }()
	select {
	case err := <-done:
		t.Fatalf("the gate stopped serving on one EMFILE from accept: %v; every later start is refused though the agent holds a grant", err)
	case <-time.After(200 * time.Millisecond):
	}
	actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer acancel()
	if ok, why := AskGate(actx, sock, "instance-1", "prepare"); !ok {
		t.Fatalf("refused under a fresh grant after one EMFILE: %s", why)
	}
}
