package kdump_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/fence/kdump"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

// Ports of this package's tests: 17410-17419, below Linux's ephemeral
// range and away from the test beds' (ipmisim 9600-9699, ceph 21000-21500).
const (
	receiverPort    = 17419
	integrationPort = 17410 // and the next few
)

func send(t *testing.T, to netip.AddrPort, payload []byte) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, ch <-chan kdump.Datagram) kdump.Datagram {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram within 5s")
	}
	return kdump.Datagram{}
}

// Two devices waiting on one address (two hosts dumping at once) share the
// socket and both see every datagram; the port is free again once both
// stopped listening.
func TestReceiverSharesOneSocket(t *testing.T) {
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), receiverPort)
	r := kdump.NewReceiver(nil)
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop1()
	defer stop2()
	ch1, err1 := r.Listen(ctx1, addr)
	ch2, err2 := r.Listen(ctx2, addr)
	if err1 != nil || err2 != nil {
		t.Fatalf("Listen() = %v, %v", err1, err2)
	}
	send(t, addr, x86Message)
	for i, ch := range []<-chan kdump.Datagram{ch1, ch2} {
		if d := recv(t, ch); string(d.Payload) != string(x86Message) || d.From.Addr() != addr.Addr() || d.At.IsZero() {
			t.Errorf("listener %d got %+v", i+1, d)
		}
	}
	stop1()
	if _, ok := <-ch1; ok {
		t.Error("a stopped listener's channel stays open")
	}
	send(t, addr, x86Message[:4])
	if d := recv(t, ch2); len(d.Payload) != 4 {
		t.Errorf("the remaining listener got %+v", d)
	}
	stop2()
	tier.Eventually(t, 5*time.Second, "port free again", func() error {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		if err == nil {
			c.Close()
		}
		return err
	})
}
