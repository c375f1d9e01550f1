package probe

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// libvirtConn is one connection to libvirtd through go-libvirt (pure Go,
// libvirt's RPC protocol on its unix socket).
//
// go-libvirt's calls take no context; within bounds each one.
type libvirtConn struct {
	l      *libvirt.Libvirt
	conn   net.Conn
	cancel context.CancelFunc // ends the event subscription
	events chan GuestEvent
	closed chan struct{} // closed by Close: the forwarder stops delivering
	once   sync.Once
}

var _ hypervisor = (*libvirtConn)(nil)

// dialLibvirt connects to cfg's libvirtd, opens cfg.URI and subscribes to
// lifecycle events.
func dialLibvirt(cfg LibvirtConfig) dialFunc {
	return func(ctx context.Context) (hypervisor, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", cfg.Socket)
		if err != nil {
			return nil, fmt.Errorf("probe: libvirt socket %s: %w", cfg.Socket, err)
		}
		c := &libvirtConn{
			l:      libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn)),
			conn:   conn,
			events: make(chan GuestEvent),
			closed: make(chan struct{}),
		}
		if err := c.within(ctx, func() error { return c.l.ConnectToURI(libvirt.ConnectURI(cfg.URI)) }); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("probe: libvirt %s at %s: %w", cfg.URI, cfg.Socket, err)
		}
		var evs <-chan libvirt.DomainEventLifecycleMsg
		sctx, cancel := context.WithCancel(context.Background()) // lives as long as the connection
		err = c.within(ctx, func() (err error) {
			evs, err = c.l.LifecycleEvents(sctx)
			return err
		})
		if err != nil {
			cancel()
			_ = conn.Close()
			return nil, fmt.Errorf("probe: libvirt %s: lifecycle events: %w", cfg.URI, err)
		}
		c.cancel = cancel
		go c.forward(evs)
		return c, nil
	}
}

// within runs call and closes the connection if ctx ends first: go-libvirt
// takes no context, and a read deadline does not help (it retries a timed
// out read forever), but a closed socket ends its reader, and with it the
// call and the event stream. The connection is then lost for good, which
// the watcher handles as any loss.
func (c *libvirtConn) within(ctx context.Context, call func() error) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	err := call()
	if !stop() {
		return fmt.Errorf("%w (connection closed: %w)", ctx.Err(), err)
	}
	return err
}

// forward turns go-libvirt's events into GuestEvents until the stream
// ends. It drains the stream even after Close: go-libvirt's sender does not
// give up on a reader that went away.
func (c *libvirtConn) forward(evs <-chan libvirt.DomainEventLifecycleMsg) {
	defer close(c.events)
	for ev := range evs {
		e := GuestEvent{
			Guest:  Guest{UUID: formatUUID(ev.Dom.UUID), Name: ev.Dom.Name},
			Event:  Lifecycle(ev.Event),
			Detail: ev.Detail,
		}
		select {
		case c.events <- e:
		case <-c.closed:
		}
	}
}

func (c *libvirtConn) Events() <-chan GuestEvent { return c.events }

// Active lists the active domains: running, paused, or in any other state
// with a live QEMU process.
func (c *libvirtConn) Active(ctx context.Context) ([]Guest, error) {
	var doms []libvirt.Domain
	err := c.within(ctx, func() (err error) {
		doms, _, err = c.l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe: libvirt list domains: %w", err)
	}
	out := make([]Guest, len(doms))
	for i, d := range doms {
		out[i] = Guest{UUID: formatUUID(d.UUID), Name: d.Name}
	}
	return out, nil
}

// Close drops the connection: the socket first, so nothing waits on a
// libvirtd that may hang, then the subscription.
func (c *libvirtConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		err = c.conn.Close()
		c.cancel()
	})
	return err
}
