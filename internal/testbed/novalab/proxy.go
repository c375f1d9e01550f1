package novalab

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// Call is one request the controller sent towards Nova's API.
type Call struct {
	At       time.Time // when the proxy received it
	Answered time.Time // when Nova's answer came (zero: dropped or failed)
	Method   string
	Path     string // without the query
	// Evacuate: an evacuate action on Server. Forwarded: it reached Nova.
	Evacuate  bool
	Server    string
	Forwarded bool
	Status    int // Nova's HTTP status (0: no answer)
}

// Hook acts on the controller's evacuate requests. Before runs when one
// arrives: false drops it (never sent to Nova; the controller's connection
// is closed). After runs once Nova has answered a forwarded one, before the
// answer goes back to the controller. Either may be nil. They run on the
// request's goroutine: several at once when the controller sends several.
type Hook struct {
	Before func(server string) bool
	After  func(server string, status int)
}

// Proxy is the controller namespace's Nova API: it forwards every request
// to the bed's nova-api, records it, and runs the hook on evacuations.
type Proxy struct {
	rp *httputil.ReverseProxy

	// mu guards calls and hook.
	mu    sync.Mutex
	calls []Call
	hook  Hook
}

var actionPath = regexp.MustCompile(`/servers/([0-9a-f-]{36})/action$`)

type callKey struct{}

func newProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &Proxy{}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // Nova builds its links from it: keep the controller's view
		},
		ModifyResponse: func(resp *http.Response) error {
			i, _ := resp.Request.Context().Value(callKey{}).(int)
			p.mu.Lock()
			c := &p.calls[i]
			c.Answered, c.Status = time.Now(), resp.StatusCode
			ev, server, after := c.Evacuate, c.Server, p.hook.After
			p.mu.Unlock()
			if ev && after != nil {
				after(server, resp.StatusCode)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return p, nil
}

// SetHook replaces the hook (Hook{} removes it).
func (p *Proxy) SetHook(h Hook) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hook = h
}

// Calls returns every request so far, in arrival order.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Evacuations returns the evacuate requests that reached Nova, in order.
func (p *Proxy) Evacuations() []Call {
	var out []Call
	for _, c := range p.Calls() {
		if c.Evacuate && c.Forwarded {
			out = append(out, c)
		}
	}
	return out
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := Call{At: time.Now(), Method: r.Method, Path: r.URL.Path}
	if m := actionPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var action map[string]json.RawMessage
		if json.Unmarshal(body, &action) == nil {
			_, c.Evacuate = action["evacuate"]
		}
		c.Server = m[1]
	}
	p.mu.Lock()
	i := len(p.calls)
	p.calls = append(p.calls, c)
	before := p.hook.Before
	p.mu.Unlock()
	if c.Evacuate && before != nil && !before(c.Server) {
		panic(http.ErrAbortHandler) // dropped: the connection is closed unanswered
	}
	p.mu.Lock()
	p.calls[i].Forwarded = true
	p.mu.Unlock()
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, i)))
}

// relay copies every connection accepted on ln to addr (in this
// process's namespace), both ways, until ln is closed.
func relay(ln net.Listener, addr string) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			cp := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go cp(out, in)
			go cp(in, out)
			<-done
			<-done
		}()
	}
}

// serve runs h on ln until ln is closed.
func serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln) // ends when the test closes ln
}
