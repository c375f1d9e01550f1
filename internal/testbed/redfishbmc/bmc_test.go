package redfishbmc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stmcginnis/gofish"
)

// hookLog records the power changes a BMC asks for.
type hookLog struct {
	mu    sync.Mutex
	calls []bool
	err   error
}

func (h *hookLog) power(on bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	h.calls = append(h.calls, on)
	return nil
}

func (h *hookLog) seen() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.calls...)
}

type cred int

const (
	noAuth cred = iota
	goodAuth
	badAuth
)

// serve runs one request through the handler, without sockets.
func serve(t *testing.T, b *BMC, method, path string, c cred, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	switch c {
	case goodAuth:
		r.SetBasicAuth(b.cfg.Username, b.cfg.Password)
	case badAuth:
		r.SetBasicAuth(b.cfg.Username, "wrong")
	}
	w := httptest.NewRecorder()
	b.Handler().ServeHTTP(w, r)
	return w
}

func newBMC(t *testing.T, mutate func(*Config)) (*BMC, *hookLog) {
	t.Helper()
	h := &hookLog{}
	cfg := DefaultConfig()
	cfg.Power = h.power
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, h
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{"default", func(*Config) {}, false},
		{"no user", func(c *Config) { c.Username = "" }, true},
		{"no password", func(c *Config) { c.Password = "" }, true},
		{"negative settle", func(c *Config) { c.Settle = -time.Second }, true},
		{"operator", func(c *Config) { c.Role = "Operator" }, false},
		{"unknown role", func(c *Config) { c.Role = "Fencer" }, true},
		{"user named like the owner", func(c *Config) { c.Username = ownerName }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if got := c.Validate() != nil; got != tt.wantErr {
				t.Errorf("Validate() error = %v, want error %v", c.Validate(), tt.wantErr)
			}
		})
	}
}

func TestHandlerStatusCodes(t *testing.T) {
	tests := []struct {
		method, path string
		cred         cred
		body         string
		want         int
	}{
		{"GET", "/redfish", noAuth, "", 200},
		{"GET", "/redfish/v1/", noAuth, "", 200},
		{"GET", "/redfish/v1", noAuth, "", 200},
		{"GET", "/redfish/v1/odata", noAuth, "", 200},
		{"GET", "/redfish/v1/Systems", noAuth, "", 401},
		{"GET", "/redfish/v1/Systems", badAuth, "", 401},
		{"GET", "/redfish/v1/Systems", goodAuth, "", 200},
		{"GET", "/redfish/v1/Systems/", goodAuth, "", 200},
		{"GET", "/redfish/v1/Systems/1", noAuth, "", 401},
		{"GET", "/redfish/v1/Systems/1", goodAuth, "", 200},
		{"GET", "/redfish/v1/Systems/2", goodAuth, "", 404},
		{"GET", "/redfish/v1/SessionService", noAuth, "", 401},
		{"GET", "/redfish/v1/SessionService", goodAuth, "", 200},
		{"GET", "/redfish/v1/SessionService/Sessions", goodAuth, "", 200},
		{"POST", resetPath, noAuth, `{"ResetType":"ForceOff"}`, 401},
		{"POST", resetPath, badAuth, `{"ResetType":"ForceOff"}`, 401},
		{"POST", resetPath, goodAuth, `{"ResetType":`, 400},
		{"POST", resetPath, goodAuth, `{"ResetType":"PushPowerButton"}`, 400},
		{"POST", resetPath, goodAuth, `{"ResetType":"Nmi"}`, 204},
		{"GET", acctSvcPath, noAuth, "", 401},
		{"GET", acctSvcPath, goodAuth, "", 200},
		{"GET", accountsPath + "/2", goodAuth, "", 200},
		{"GET", accountsPath + "/3", goodAuth, "", 404},
		{"GET", rolesPath + "/ReadOnly", goodAuth, "", 200},
		{"GET", rolesPath + "/Nobody", goodAuth, "", 404},
		{"POST", resetPath, goodAuth, `{"ResetType":"GracefulShutdown"}`, 204},
		{"POST", sessionsPath, noAuth, `{"UserName":"admin","Password":"wrong"}`, 401},
		{"POST", sessionsPath, noAuth, `{"UserName":"admin","Password":"vigil-test-password"}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			b, _ := newBMC(t, nil)
			w := serve(t, b, tt.method, tt.path, tt.cred, tt.body)
			if diff := cmp.Diff(tt.want, w.Code); diff != "" {
				t.Errorf("status (-want +got):\n%s\nbody: %s", diff, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); w.Code != 204 && !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" && tt.path != sessionsPath {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

func TestServiceRootLinks(t *testing.T) {
	b, _ := newBMC(t, nil)
	var root struct {
		Systems        link
		SessionService link
		Links          struct{ Sessions link }
	}
	decode(t, serve(t, b, "GET", "/redfish/v1/", noAuth, ""), &root)
	got := []string{root.Systems.ID, root.SessionService.ID, root.Links.Sessions.ID}
	if diff := cmp.Diff([]string{systemsPath, sessSvcPath, sessionsPath}, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
}

func TestReset(t *testing.T) {
	tests := []struct {
		name      string
		startOff  bool
		resets    []string
		wantHook  []bool
		wantOn    bool
		wantState string
	}{
		{"force off", false, []string{"ForceOff"}, []bool{false}, false, "Off"},
		{"graceful", false, []string{"GracefulShutdown"}, []bool{false}, false, "Off"},
		{"off twice", false, []string{"ForceOff", "ForceOff"}, []bool{false}, false, "Off"},
		{"on", true, []string{"On"}, []bool{true}, true, "On"},
		{"on when on", false, []string{"On"}, nil, true, "On"},
		{"restart", false, []string{"ForceRestart"}, []bool{false, true}, true, "On"},
		{"restart when off", true, []string{"ForceRestart"}, []bool{true}, true, "On"},
		{"off then on", false, []string{"ForceOff", "On"}, []bool{false, true}, true, "On"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, h := newBMC(t, func(c *Config) { c.StartOff = tt.startOff })
			for _, rt := range tt.resets {
				w := serve(t, b, "POST", resetPath, goodAuth, `{"ResetType":"`+rt+`"}`)
				if w.Code != http.StatusNoContent {
					t.Fatalf("%s: status %d, body %s", rt, w.Code, w.Body)
				}
			}
			if diff := cmp.Diff(tt.wantHook, h.seen()); diff != "" {
				t.Errorf("hook calls (-want +got):\n%s", diff)
			}
			if got := b.PoweredOn(); got != tt.wantOn {
				t.Errorf("PoweredOn() = %v, want %v", got, tt.wantOn)
			}
			if got := powerState(t, b); got != tt.wantState {
				t.Errorf("PowerState = %q, want %q", got, tt.wantState)
			}
		})
	}
}

func TestReportedState(t *testing.T) {
	tests := []struct {
		name   string
		settle time.Duration
		lie    Lie
		reset  string
		want   string
	}{
		{"settled off", 0, Truthful, "ForceOff", "Off"},
		{"settling off", time.Hour, Truthful, "ForceOff", "PoweringOff"},
		{"settling on", time.Hour, Truthful, "ForceRestart", "PoweringOn"},
		{"lie off while on", 0, SayOff, "", "Off"},
		{"lie on after off", 0, SayOn, "ForceOff", "On"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBMC(t, func(c *Config) { c.Settle = tt.settle })
			b.SetLie(tt.lie)
			if tt.reset != "" {
				serve(t, b, "POST", resetPath, goodAuth, `{"ResetType":"`+tt.reset+`"}`)
			}
			if got := powerState(t, b); got != tt.want {
				t.Errorf("PowerState = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResetFailures(t *testing.T) {
	t.Run("hook error", func(t *testing.T) {
		b, h := newBMC(t, nil)
		h.err = errors.New("namespace busy")
		w := serve(t, b, "POST", resetPath, goodAuth, `{"ResetType":"ForceOff"}`)
		if w.Code != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", w.Code)
		}
		if !b.PoweredOn() {
			t.Errorf("host powered off although the hook failed")
		}
	})
	t.Run("refused", func(t *testing.T) {
		b, h := newBMC(t, nil)
		b.RefuseResets(http.StatusConflict)
		w := serve(t, b, "POST", resetPath, goodAuth, `{"ResetType":"ForceOff"}`)
		if w.Code != http.StatusConflict {
			t.Errorf("status %d, want 409", w.Code)
		}
		if len(h.seen()) != 0 || !b.PoweredOn() {
			t.Errorf("refused reset changed power: hook %v", h.seen())
		}
	})
}

func TestIfMatch(t *testing.T) {
	b, _ := newBMC(t, nil)
	tag := serve(t, b, "GET", systemPath, goodAuth, "").Header().Get("ETag")
	post := func(ifMatch string) int {
		r := httptest.NewRequest("POST", resetPath, strings.NewReader(`{"ResetType":"ForceRestart"}`))
		r.SetBasicAuth(b.cfg.Username, b.cfg.Password)
		r.Header.Set("If-Match", ifMatch)
		w := httptest.NewRecorder()
		b.Handler().ServeHTTP(w, r)
		return w.Code
	}
	b.SetLie(SayOff) // the reported state, and so the ETag, moves on
	got := []int{post(tag), post("*"), post(etag("Off"))}
	if diff := cmp.Diff([]int{412, 204, 204}, got); diff != "" {
		t.Errorf("stale ETag, *, current ETag (-want +got):\n%s", diff)
	}
}

func TestSessionToken(t *testing.T) {
	b, _ := newBMC(t, nil)
	w := serve(t, b, "POST", sessionsPath, noAuth, `{"UserName":"admin","Password":"vigil-test-password"}`)
	tok, loc := w.Header().Get("X-Auth-Token"), w.Header().Get("Location")
	if tok == "" || loc == "" {
		t.Fatalf("no token or location: %v", w.Header())
	}
	withToken := func(method, path string) int {
		r := httptest.NewRequest(method, path, nil)
		r.Header.Set("X-Auth-Token", tok)
		w := httptest.NewRecorder()
		b.Handler().ServeHTTP(w, r)
		return w.Code
	}
	got := []int{withToken("GET", systemPath), withToken("DELETE", loc), withToken("GET", systemPath)}
	if diff := cmp.Diff([]int{200, 204, 401}, got); diff != "" {
		t.Errorf("GET, DELETE session, GET (-want +got):\n%s", diff)
	}
}

// TestGofishSession drives the listening BMC with gofish's default,
// session-based login over verified TLS.
func TestGofishSession(t *testing.T) {
	b, _ := newBMC(t, nil)
	if err := b.SetReachability(Up); err != nil {
		t.Fatal(err)
	}
	c, err := gofish.ConnectContext(t.Context(), gofish.ClientConfig{
		Endpoint:   b.Endpoint(),
		Username:   b.cfg.Username,
		Password:   b.cfg.Password,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CertPool()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	systems, err := c.Service.Systems()
	if err != nil {
		t.Fatal(err)
	}
	if len(systems) != 1 || systems[0].PowerState != "On" {
		t.Fatalf("systems = %+v, want one system that is On", systems)
	}
	if err := systems[0].Reset("ForceOff"); err != nil {
		t.Fatal(err)
	}
	c.Logout()
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	if n != 0 || b.PoweredOn() {
		t.Errorf("after ForceOff and Logout: %d sessions, powered on %v", n, b.PoweredOn())
	}
}

func TestReachability(t *testing.T) {
	b, err := Start(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CertPool()}}
	get := func(timeout time.Duration) error {
		client := &http.Client{Timeout: timeout, Transport: transport}
		resp, err := client.Get(b.Endpoint() + "/redfish/v1/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	port := b.Port()
	steps := []struct {
		to      Reachability
		timeout time.Duration
		check   func(error) bool
		want    string
	}{
		{Up, 5 * time.Second, func(err error) bool { return err == nil }, "answer"},
		{Down, 5 * time.Second, func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }, "connection refused"},
		{Up, 5 * time.Second, func(err error) bool { return err == nil }, "answer on the same port"},
		{Silent, 200 * time.Millisecond, func(err error) bool {
			var to interface{ Timeout() bool }
			return errors.As(err, &to) && to.Timeout()
		}, "timeout"},
		{Up, 5 * time.Second, func(err error) bool { return err == nil }, "answer after silence"},
	}
	for i, s := range steps {
		if err := b.SetReachability(s.to); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if err := get(s.timeout); !s.check(err) {
			t.Errorf("step %d (%d): got %v, want %s", i, s.to, err, s.want)
		}
		if b.Port() != port {
			t.Errorf("step %d: port changed from %d to %d", i, port, b.Port())
		}
	}
}

func TestCloseWhileSilent(t *testing.T) {
	b, err := Start(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetReachability(Silent); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", b.Endpoint()+"/redfish/v1/", nil)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CertPool()}}}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Close must unblock the hanging request well before ctx's deadline.
	waitFor(t, ctx, func() bool { return hanging(b) > 0 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("request answered by a silent BMC")
		}
	case <-ctx.Done():
		t.Fatal("Close did not drop the hanging request")
	}
}

// hanging is the number of requests a silent BMC holds.
func hanging(b *BMC) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hanging
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met before deadline")
		case <-tick.C:
		}
	}
}

func powerState(t *testing.T, b *BMC) string {
	t.Helper()
	var sys struct{ PowerState string }
	decode(t, serve(t, b, "GET", systemPath, goodAuth, ""), &sys)
	return sys.PowerState
}

func decode(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatal(err)
	}
}
