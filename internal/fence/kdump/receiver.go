package kdump

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Datagram is one UDP datagram as it arrived.
type Datagram struct {
	From netip.AddrPort
	// At is when vigil read it, by vigil's clock: the message carries no
	// time of its own.
	At      time.Time
	Payload []byte
}

// Source delivers the datagrams that arrive on a listen address. Receiver
// is the real one.
type Source interface {
	// Listen delivers every datagram that arrives on addr from the call
	// until ctx ends, then closes the channel. It fails when addr cannot
	// be listened on.
	Listen(ctx context.Context, addr netip.AddrPort) (<-chan Datagram, error)
}

var _ Source = (*Receiver)(nil)

// queueLen is how many datagrams wait for a slow listener; more are
// dropped: a flood may make Off miss the host's message and fail (the
// next level then runs), never succeed.
const queueLen = 64

// readLen is the read buffer: anything longer than a message is malformed
// whatever its length.
const readLen = 64

// Receiver shares one UDP socket per listen address among every Listen
// call on it: several hosts' devices wait on 0.0.0.0:7410 at once when
// several hosts crash together, and each sees every datagram (and keeps
// its own host's). The socket is opened by the first Listen and closed
// when the last one's context ends, so the port is held only while a
// fence or a health check waits. Its zero value is not usable: use
// NewReceiver.
type Receiver struct {
	log *slog.Logger

	// mu guards socks and the listeners of every socket in it.
	mu    sync.Mutex
	socks map[netip.AddrPort]*socket
}

type socket struct {
	conn      *net.UDPConn
	listeners map[*listener]struct{}
}

type listener struct {
	ch      chan Datagram
	since   time.Time // when it began listening: older datagrams are not its
	dropped bool      // a datagram was dropped for this listener (logged once)
}

// NewReceiver returns a Receiver with no socket open. log may be nil.
func NewReceiver(log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{log: log, socks: map[netip.AddrPort]*socket{}}
}

// Listen implements Source. The socket's reader goroutine belongs to the
// Receiver and ends when the socket is closed, after the last listener's
// context ended.
func (r *Receiver) Listen(ctx context.Context, addr netip.AddrPort) (<-chan Datagram, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.socks[addr]
	if s == nil {
		conn, err := net.ListenUDP(network(addr), net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, err
		}
		s = &socket{conn: conn, listeners: map[*listener]struct{}{}}
		r.socks[addr] = s
		go r.read(s)
	}
	l := &listener{ch: make(chan Datagram, queueLen), since: time.Now()}
	s.listeners[l] = struct{}{}
	context.AfterFunc(ctx, func() { r.leave(addr, s, l) })
	return l.ch, nil
}

// network picks the socket family: [::] is dual-stack ("udp"), any other
// address its own family only.
func network(addr netip.AddrPort) string {
	switch a := addr.Addr(); {
	case a.Unmap().Is4():
		return "udp4"
	case a.IsUnspecified():
		return "udp"
	}
	return "udp6"
}

// leave removes l and closes its channel; the last listener closes the
// socket, which ends its reader.
func (r *Receiver) leave(addr netip.AddrPort, s *socket, l *listener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(s.listeners, l)
	close(l.ch)
	if len(s.listeners) == 0 {
		s.conn.Close()
		if r.socks[addr] == s {
			delete(r.socks, addr)
		}
	}
}

// read hands every datagram to every listener of s until s is closed.
func (r *Receiver) read(s *socket) {
	buf := make([]byte, readLen)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		at := time.Now()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			r.log.Warn("kdump read failed", "error", err)
			continue
		}
		// A dual-stack socket shows IPv4 senders as ::ffff:a.b.c.d.
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		d := Datagram{From: from, At: at, Payload: append([]byte(nil), buf[:n]...)}
		r.mu.Lock()
		for l := range s.listeners {
			if at.Before(l.since) {
				continue // read just before l joined
			}
			select {
			case l.ch <- d:
			default:
				if !l.dropped {
					l.dropped = true
					r.log.Warn("kdump datagrams dropped", "from", from.String(), "queue", queueLen)
				}
			}
		}
		r.mu.Unlock()
	}
}
