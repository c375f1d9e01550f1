package kdump_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/kdump"
)

// arrival is a datagram that arrives after a delay from the start of
// listening.
type arrival struct {
	after   time.Duration
	from    string // ip:port
	payload []byte
}

// scripted is a Source whose datagrams arrive on a schedule, in fake time
// (synctest).
type scripted struct {
	script  []arrival
	err     error
	listens []netip.AddrPort
}

func (s *scripted) Listen(ctx context.Context, addr netip.AddrPort) (<-chan kdump.Datagram, error) {
	if s.err != nil {
		return nil, s.err
	}
	s.listens = append(s.listens, addr)
	ch := make(chan kdump.Datagram)
	start := time.Now()
	go func() {
		defer close(ch)
		for _, a := range s.script {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(a.after))):
			}
			d := kdump.Datagram{From: netip.MustParseAddrPort(a.from), At: time.Now(), Payload: a.payload}
			select {
			case ch <- d:
			case <-ctx.Done():
				return
			}
		}
		<-ctx.Done()
	}()
	return ch, nil
}

func device(t *testing.T, src kdump.Source, addrs ...string) *kdump.Device {
	t.Helper()
	c := kdump.DefaultConfig()
	c.Host = "cmp1"
	for _, a := range addrs {
		c.Addrs = append(c.Addrs, netip.MustParseAddr(a))
	}
	d, err := kdump.New(c, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Off counts the first valid message from one of the host's addresses and
// nothing before it: another host's message, a malformed one and an
// unknown version from the host's own address are ignored, and say so.
func TestOffSucceedsOnTheHostsMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scripted{script: []arrival{
			{1 * time.Second, "10.0.0.12:40000", x86Message},              // another host
			{2 * time.Second, "10.0.0.11:40001", x86Message[:4]},          // short
			{3 * time.Second, "10.0.0.11:40001", msg(le, kdump.Magic, 2)}, // unknown version
			{5 * time.Second, "[::ffff:10.0.0.11]:40002", x86Message},     // the host, via a dual-stack socket
			{6 * time.Second, "10.0.0.11:40003", x86Message},
		}}
		start := time.Now()
		p, err := device(t, src, "10.0.0.11", "10.0.1.11").Off(context.Background())
		if err != nil {
			t.Fatalf("Off() = %v", err)
		}
		want := &fence.KdumpProof{From: "10.0.0.11:40002", At: start.Add(5 * time.Second), Listen: "0.0.0.0:7410", Version: 1, Waited: 5 * time.Second, Ignored: 3}
		if diff := cmp.Diff(want, p.Kdump); diff != "" {
			t.Errorf("proof (-want +got):\n%s", diff)
		}
		if p.Driver != "kdump" || !strings.Contains(p.Detail, "from 10.0.0.11:40002") || !strings.Contains(p.Detail, "ignored 3 datagrams") {
			t.Errorf("proof = %v", p)
		}
		if time.Since(start) != 5*time.Second {
			t.Errorf("Off took %v, want 5s: it returns on the message", time.Since(start))
		}
	})
}

// Without a valid message from the host, Off fails when the timeout ends
// (so the next level runs), with fence.ErrNotVerified, and names what it
// ignored.
func TestOffFailsAfterTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []arrival
		says   string
	}{
		{"silence", nil, "in 1m0s of listening (timeout 1m0s): context deadline exceeded"},
		{"another host's messages", []arrival{{time.Second, "10.0.0.12:40000", x86Message}, {11 * time.Second, "10.0.0.12:40000", x86Message}},
			"ignored 2 datagrams (from 10.0.0.12: not one of the host's addresses ×2)"},
		{"the host's address, wrong magic", []arrival{{time.Second, "10.0.0.11:40000", msg(le, 0xdeadbeef, 1)}},
			"ignored 1 datagrams (from 10.0.0.11: malformed ×1)"},
		{"a message after the timeout", []arrival{{61 * time.Second, "10.0.0.11:40000", x86Message}}, "(timeout 1m0s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				_, err := device(t, &scripted{script: tc.script}, "10.0.0.11").Off(context.Background())
				if !errors.Is(err, fence.ErrNotVerified) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Off() = %v, want ErrNotVerified after the deadline", err)
				}
				if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "no fence_kdump message from cmp1 (10.0.0.11) on 0.0.0.0:7410") {
					t.Errorf("Off() = %v, want it to say %q", err, tc.says)
				}
				if took := time.Since(start); took != kdump.DefaultTimeout {
					t.Errorf("Off failed after %v, want the timeout %v", took, kdump.DefaultTimeout)
				}
			})
		})
	}
}

// A listen address vigil cannot use fails at once as ErrUnreachable,
// with the reason (errors.Is on the errno) and a hint.
func TestOffCannotListen(t *testing.T) {
	src := &scripted{err: fmt.Errorf("listen udp4 0.0.0.0:7410: bind: %w", syscall.EADDRINUSE)}
	d := device(t, src, "10.0.0.11")
	_, err := d.Off(context.Background())
	if !errors.Is(err, fence.ErrUnreachable) || !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "another socket holds the port") {
		t.Errorf("Off() = %v, want ErrUnreachable wrapping EADDRINUSE with a hint", err)
	}
	if _, err := d.Status(context.Background()); !errors.Is(err, fence.ErrUnreachable) {
		t.Errorf("Status() = %v, want the same failure", err)
	}
}

// Status only proves the address can be listened on: a host has no kdump
// state to read.
func TestStatusListensOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &scripted{}
		st, err := device(t, src, "10.0.0.11").Status(context.Background())
		if err != nil || st != fence.StatusUnknown {
			t.Errorf("Status() = %v, %v; want unknown, nil", st, err)
		}
		if len(src.listens) != 1 {
			t.Errorf("Status listened %d times, want once", len(src.listens))
		}
	})
}

func TestCheck(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("fd00::11")}
	for _, tc := range []struct {
		from    string
		payload []byte
		wantErr error
	}{
		{"10.0.0.11:1", x86Message, nil},
		{"[::ffff:10.0.0.11]:1", x86Message, nil},
		{"[fd00::11]:1", x86Message, nil},
		{"[fd00::11%eth0]:1", x86Message, nil},
		{"10.0.0.12:1", x86Message, kdump.ErrForeign},
		{"[fd00::12]:1", x86Message, kdump.ErrForeign},
		{"127.0.0.1:1", x86Message, kdump.ErrForeign},
		{"10.0.0.12:1", nil, kdump.ErrForeign}, // the source first: a forger learns nothing about the format
		{"10.0.0.11:1", nil, kdump.ErrMalformed},
		{"10.0.0.11:1", msg(le, kdump.Magic, 3), kdump.ErrVersion},
	} {
		_, err := kdump.Check(addrs, kdump.Datagram{From: netip.MustParseAddrPort(tc.from), Payload: tc.payload})
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("Check(%s, % x) = %v, want %v", tc.from, tc.payload, err, tc.wantErr)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func(c *kdump.Config) {}
	for _, tc := range []struct {
		name  string
		edit  func(*kdump.Config)
		field string
	}{
		{"defaults", ok, ""},
		{"no host", func(c *kdump.Config) { c.Host = "" }, "Host"},
		{"no addresses", func(c *kdump.Config) { c.Addrs = nil }, "Addrs"},
		{"unspecified address", func(c *kdump.Config) { c.Addrs = []netip.Addr{netip.IPv4Unspecified()} }, "Addrs[0]"},
		{"duplicate address", func(c *kdump.Config) { c.Addrs = append(c.Addrs, c.Addrs[0]) }, "Addrs[1]"},
		{"no port", func(c *kdump.Config) { c.Listen = netip.AddrPortFrom(netip.IPv4Unspecified(), 0) }, "Listen"},
		{"no listen address", func(c *kdump.Config) { c.Listen = netip.AddrPort{} }, "Listen"},
		{"IPv6 host on an IPv4 socket", func(c *kdump.Config) { c.Addrs = []netip.Addr{netip.MustParseAddr("fd00::11")} }, "Addrs[0]"},
		{"IPv4 host on a specific IPv6 socket", func(c *kdump.Config) { c.Listen = netip.MustParseAddrPort("[fd00::1]:7410") }, "Addrs[0]"},
		{"both families on [::]", func(c *kdump.Config) {
			c.Listen = netip.MustParseAddrPort("[::]:7410")
			c.Addrs = append(c.Addrs, netip.MustParseAddr("fd00::11"))
		}, ""},
		{"zero timeout", func(c *kdump.Config) { c.Timeout = 0 }, "Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kdump.DefaultConfig()
			c.Host, c.Addrs = "cmp1", []netip.Addr{netip.MustParseAddr("10.0.0.11")}
			tc.edit(&c)
			err := c.Validate()
			var ce *fence.ConfigError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, fence.ErrInvalidConfig)):
				t.Errorf("Validate() = %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
}
