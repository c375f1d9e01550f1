package pool

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

var _ memberlist.NodeAwareTransport = (*counting)(nil)

// counting is a transport that counts what passes through it: the packet
// rate of a pool, measured (docs/performance.md).
type counting struct {
	memberlist.NodeAwareTransport
	in       chan *memberlist.Packet
	done     chan struct{}
	stop     sync.Once
	wg       sync.WaitGroup
	pktIn    atomic.Uint64
	pktOut   atomic.Uint64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	streams  atomic.Uint64
}

// count wraps t; its forwarding goroutine ends at Shutdown.
func count(t memberlist.NodeAwareTransport) *counting {
	c := &counting{NodeAwareTransport: t, in: make(chan *memberlist.Packet), done: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		src := t.PacketCh()
		for {
			select {
			case p := <-src:
				c.pktIn.Add(1)
				c.bytesIn.Add(uint64(len(p.Buf)))
				select {
				case c.in <- p:
				case <-c.done:
					return
				}
			case <-c.done:
				return
			}
		}
	}()
	return c
}

func (c *counting) PacketCh() <-chan *memberlist.Packet { return c.in }

func (c *counting) WriteTo(b []byte, addr string) (time.Time, error) {
	c.pktOut.Add(1)
	c.bytesOut.Add(uint64(len(b)))
	return c.NodeAwareTransport.WriteTo(b, addr)
}

func (c *counting) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	c.pktOut.Add(1)
	c.bytesOut.Add(uint64(len(b)))
	return c.NodeAwareTransport.WriteToAddress(b, a)
}

func (c *counting) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c.streams.Add(1)
	return c.NodeAwareTransport.DialAddressTimeout(a, timeout)
}

func (c *counting) Shutdown() error {
	c.stop.Do(func() { close(c.done) })
	c.wg.Wait()
	return c.NodeAwareTransport.Shutdown()
}
