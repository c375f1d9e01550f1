package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// The main goroutine keeps the main thread for itself: a goroutine that
// entered a namespace and ends on the main thread would leave the main thread
// in that namespace for good (the runtime cannot end the main thread), and
// the whole process would then count as the namespace's (ip netns pids), to
// be killed with it when the lab goes down.
func init() { runtime.LockOSThread() }

// DialContext dials addr from inside namespace ns: the socket is made on a
// thread that entered ns, so it lives there, and is then used from any
// thread. The thread is never returned to the process (it ends with its
// goroutine), so no other goroutine ever runs in ns by mistake. Give it to
// an http.Transport to reach a service that listens only inside a lab.
func DialContext(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
			f, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				ch <- result{err: fmt.Errorf("netns: %s: %w", ns, err)}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{err: fmt.Errorf("netns: enter %s: %w", ns, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		select {
		case r := <-ch:
			return r.c, r.err
		case <-ctx.Done():
			go func() {
				if r := <-ch; r.c != nil {
					r.c.Close()
				}
			}()
			return nil, ctx.Err()
		}
	}
}

// Listen listens on addr (tcp) inside namespace ns: the socket is made on a
// thread that entered ns, like DialContext's, and accepts connections made
// inside ns from any goroutine. A test uses it to serve something (a relay,
// a proxy) that only processes inside the lab can reach.
func Listen(ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		f, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			ch <- result{err: fmt.Errorf("netns: %s: %w", ns, err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("netns: enter %s: %w", ns, err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}
