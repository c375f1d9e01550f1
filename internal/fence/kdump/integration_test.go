package kdump_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/fencetest"
	"github.com/vigil-ha/vigil/internal/fence/kdump"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// sendPath is fence-agents' sender, as the kdump kernel runs it.
const sendPath = "/usr/libexec/fence-agents/fence_kdump_send"

// startSender runs fence_kdump_send towards node:port every second until
// the test ends, as a kdump kernel would (kdump.conf's fence_kdump_args).
func startSender(t *testing.T, port int, node string, extra ...string) {
	t.Helper()
	args := append([]string{"-p", strconv.Itoa(port), "-i", "1"}, extra...)
	cmd := exec.Command(sendPath, append(args, node)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // our own child, by its pid
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("fence_kdump_send %s: %s", node, out.String())
		}
	})
}

func realDevice(t *testing.T, listen string, timeout time.Duration, log *slog.Logger, addrs ...string) *kdump.Device {
	t.Helper()
	c := kdump.DefaultConfig()
	c.Host, c.Listen, c.Timeout = "cmp1", netip.MustParseAddrPort(listen), timeout
	for _, a := range addrs {
		c.Addrs = append(c.Addrs, netip.MustParseAddr(a))
	}
	d, err := kdump.New(c, kdump.NewReceiver(log), log)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The real sender's datagram is the 8 bytes Parse expects (what
// x86Message pins for the unit tests).
func TestIntegrationRealSenderBytes(t *testing.T) {
	tier.Integration(t, sendPath)
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), integrationPort)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := kdump.NewReceiver(nil).Listen(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, integrationPort, "127.0.0.1", "-c", "1")
	d := recv(t, ch)
	m, err := kdump.Parse(d.Payload)
	if err != nil || m.Version != kdump.VersionV1 {
		t.Fatalf("Parse(% x) = %+v, %v", d.Payload, m, err)
	}
	if (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") && !bytes.Equal(d.Payload, x86Message) {
		t.Errorf("fence_kdump_send sent % x, want % x", d.Payload, x86Message)
	}
}

// Off succeeds on the real sender's message, with a proof naming its
// source, well within the timeout.
func TestIntegrationOffOnRealMessage(t *testing.T) {
	tier.Integration(t, sendPath)
	d := realDevice(t, "127.0.0.1:"+strconv.Itoa(integrationPort+1), 20*time.Second, nil, "127.0.0.1")
	startSender(t, integrationPort+1, "127.0.0.1")
	start := time.Now()
	p, err := d.Off(context.Background())
	if err != nil {
		t.Fatalf("Off() = %v", err)
	}
	if p.Kdump == nil || !strings.HasPrefix(p.Kdump.From, "127.0.0.1:") || p.Kdump.Version != 1 || p.Kdump.Waited > 2*time.Second {
		t.Errorf("proof = %+v, want a v1 message from 127.0.0.1 within the sender's 1s interval", p.Kdump)
	}
	t.Logf("Off took %v: %v", time.Since(start).Round(time.Millisecond), p)
}

// With nothing sending, Off fails once its timeout has passed, not before.
func TestIntegrationOffTimesOut(t *testing.T) {
	tier.Integration(t, sendPath)
	d := realDevice(t, "127.0.0.1:"+strconv.Itoa(integrationPort+2), 2*time.Second, nil, "127.0.0.1")
	start := time.Now()
	_, err := d.Off(context.Background())
	took := time.Since(start)
	if !errors.Is(err, fence.ErrNotVerified) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Off() = %v, want ErrNotVerified at the deadline", err)
	}
	if took < 2*time.Second || took > 3*time.Second {
		t.Errorf("Off failed after %v, want about its 2s timeout", took)
	}
}

// A message from an address that is not the host's is ignored (and
// logged): alone, Off fails at its timeout saying what it ignored; once
// the host's own message arrives too, Off succeeds on that one. The
// socket is dual-stack ([::]); the host sends from ::1, the other from
// 127.0.0.1.
func TestIntegrationOffIgnoresOtherAddresses(t *testing.T) {
	tier.Integration(t, sendPath)
	port := integrationPort + 3
	listen := "[::]:" + strconv.Itoa(port)

	t.Run("other address only", func(t *testing.T) {
		startSender(t, port, "127.0.0.1")
		_, err := realDevice(t, listen, 3*time.Second, nil, "::1").Off(context.Background())
		if !errors.Is(err, fence.ErrNotVerified) || !strings.Contains(err.Error(), "from 127.0.0.1: not one of the host's addresses") {
			t.Fatalf("Off() = %v, want ErrNotVerified naming the ignored 127.0.0.1", err)
		}
	})

	t.Run("other address, then the host", func(t *testing.T) {
		logs := &fencetest.LogBuffer{}
		d := realDevice(t, listen, 20*time.Second, slog.New(slog.NewTextHandler(logs, nil)), "::1")
		startSender(t, port, "127.0.0.1")
		type result struct {
			p   fence.Proof
			err error
		}
		done := make(chan result, 1)
		go func() {
			p, err := d.Off(context.Background())
			done <- result{p, err}
		}()
		tier.Eventually(t, 10*time.Second, "the other address's message ignored", func() error {
			if !strings.Contains(logs.String(), "kdump datagram ignored") {
				return fmt.Errorf("log: %q", logs.String())
			}
			return nil
		})
		startSender(t, port, "::1")
		r := <-done
		if r.err != nil {
			t.Fatalf("Off() = %v", r.err)
		}
		if k := r.p.Kdump; k == nil || !strings.HasPrefix(k.From, "[::1]:") || k.Ignored < 1 {
			t.Errorf("proof = %+v, want the message from [::1] after at least one ignored", r.p.Kdump)
		}
		if !strings.Contains(logs.String(), "from=127.0.0.1:") {
			t.Errorf("the ignored datagram's log does not name 127.0.0.1:\n%s", logs.String())
		}
	})
}
