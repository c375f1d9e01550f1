package redfish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gfredfish "github.com/stmcginnis/gofish/redfish"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
)

// power records the changes the test BMC makes.
type power struct {
	mu    sync.Mutex
	calls []bool
	err   error
}

func (p *power) hook(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.calls = append(p.calls, on)
	return nil
}

func (p *power) seen() []bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bool(nil), p.calls...)
}

func startBMC(t testing.TB, mutate func(*redfishbmc.Config)) (*redfishbmc.BMC, *power) {
	t.Helper()
	p := &power{}
	cfg := redfishbmc.DefaultConfig()
	cfg.Password = secret
	cfg.Power = p.hook
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := redfishbmc.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, p
}

// fastConfig points at the test BMC, verifies its certificate and uses
// timings short enough for unit tests.
func fastConfig(b *redfishbmc.BMC) Config {
	c := DefaultConfig()
	c.Endpoint = b.Endpoint()
	c.Username = "admin"
	c.Password = secret
	c.RootCAs = b.CertPool()
	c.RequestTimeout = 2 * time.Second
	c.OffTimeout = 5 * time.Second
	c.OnTimeout = 5 * time.Second
	c.PollInterval = 10 * time.Millisecond
	c.PowerWait = 30 * time.Millisecond
	return c
}

func newDevice(t testing.TB, c Config, log *slog.Logger) *Device {
	t.Helper()
	d, err := New(c, log)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name   string
		bmc    func(*redfishbmc.Config)
		before func(*redfishbmc.BMC)
		want   fence.Status
	}{
		{"on", nil, nil, fence.StatusOn},
		{"off", func(c *redfishbmc.Config) { c.StartOff = true }, nil, fence.StatusOff},
		{"powering off is still on", func(c *redfishbmc.Config) { c.Settle = time.Hour }, func(b *redfishbmc.BMC) {
			resetViaHTTP(t, b, "ForceOff")
		}, fence.StatusOn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := startBMC(t, tt.bmc)
			if tt.before != nil {
				tt.before(b)
			}
			got, err := newDevice(t, fastConfig(b), nil).Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Status() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	got := map[string]fence.Status{}
	for _, s := range []string{"On", "Off", "PoweringOn", "PoweringOff", "Paused", "", "Bogus"} {
		got[s] = statusOf(gfredfish.PowerState(s))
	}
	want := map[string]fence.Status{
		"On": fence.StatusOn, "Off": fence.StatusOff, "PoweringOn": fence.StatusOn,
		"PoweringOff": fence.StatusOn, "Paused": fence.StatusOn, "": fence.StatusUnknown, "Bogus": fence.StatusUnknown,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statusOf (-want +got):\n%s", diff)
	}
}

func TestOffThenOn(t *testing.T) {
	tests := []struct {
		name     string
		settle   time.Duration
		insecure bool
	}{
		{"immediate", 0, false},
		{"settles over several reads", 30 * time.Millisecond, false},
		{"insecure TLS", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, p := startBMC(t, func(c *redfishbmc.Config) { c.Settle = tt.settle })
			c := fastConfig(b)
			if tt.insecure {
				c.RootCAs, c.InsecureTLS = nil, true
			}
			d := newDevice(t, c, nil)
			proof, err := d.Off(t.Context())
			if err != nil {
				t.Fatalf("Off() = %v", err)
			}
			if proof.Driver != "redfish" || proof.Detail == "" || proof.Power == nil || len(proof.Power.Reads) < 2 {
				t.Errorf("Off() proof = %+v, want driver redfish and a detail", proof)
			}
			if b.PoweredOn() {
				t.Fatal("Off() succeeded but the host is on")
			}
			if st, err := d.Status(t.Context()); err != nil || st != fence.StatusOff {
				t.Errorf("Status() after Off = %v, %v", st, err)
			}
			if err := d.On(t.Context()); err != nil {
				t.Fatalf("On() = %v", err)
			}
			if !b.PoweredOn() {
				t.Fatal("On() succeeded but the host is off")
			}
			if diff := cmp.Diff([]bool{false, true}, p.seen()); diff != "" {
				t.Errorf("power changes (-want +got):\n%s", diff)
			}
			t.Logf("proof: %s", proof.Detail)
		})
	}
}

func TestAlreadyInState(t *testing.T) {
	b, p := startBMC(t, func(c *redfishbmc.Config) { c.StartOff = true })
	d := newDevice(t, fastConfig(b), nil)
	if _, err := d.Off(t.Context()); err != nil {
		t.Fatalf("Off() on an off host = %v", err)
	}
	if err := d.On(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.On(t.Context()); err != nil {
		t.Fatalf("On() on an on host = %v", err)
	}
	if diff := cmp.Diff([]bool{true}, p.seen()); diff != "" {
		t.Errorf("power changes (-want +got):\n%s", diff)
	}
}

// TestResetIsNotConditional: the BMC sends ETags, and a reset carrying the
// ETag of the driver's earlier read would get 412 once PowerState moved.
func TestResetIsNotConditional(t *testing.T) {
	b, p := startBMC(t, nil)
	var mu sync.Mutex
	var ifMatch []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mu.Lock()
			ifMatch = append(ifMatch, r.Header.Get("If-Match"))
			mu.Unlock()
		}
		b.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := fastConfig(b)
	c.Endpoint, c.RootCAs, c.InsecureTLS = srv.URL, nil, true
	if _, err := newDevice(t, c, nil).Off(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{""}, ifMatch); diff != "" {
		t.Errorf("If-Match on resets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false}, p.seen()); diff != "" {
		t.Errorf("power changes (-want +got):\n%s", diff)
	}
}

var sentinels = []error{fence.ErrAuth, fence.ErrUnreachable, fence.ErrNotVerified, fence.ErrRefused}

func TestFailures(t *testing.T) {
	tests := []struct {
		name    string
		bmc     func(*redfishbmc.Config)
		fault   func(*redfishbmc.BMC, *power)
		config  func(*Config)
		op      string // "off", "on" or "status"
		want    error  // the one sentinel the error must wrap; nil: none of them
		wantOn  bool   // the host's real power afterwards
		hookRan bool
	}{
		{name: "wrong password status", config: func(c *Config) { c.Password = "wrong" },
			op: "status", want: fence.ErrAuth, wantOn: true},
		{name: "wrong password off", config: func(c *Config) { c.Password = "wrong" },
			op: "off", want: fence.ErrAuth, wantOn: true},
		{name: "untrusted certificate", config: func(c *Config) { c.RootCAs = nil },
			op: "off", want: fence.ErrAuth, wantOn: true},
		{name: "BMC down", fault: func(b *redfishbmc.BMC, _ *power) { must(b.SetReachability(redfishbmc.Down)) },
			op: "off", want: fence.ErrUnreachable, wantOn: true},
		{name: "BMC down status", fault: func(b *redfishbmc.BMC, _ *power) { must(b.SetReachability(redfishbmc.Down)) },
			op: "status", want: fence.ErrUnreachable, wantOn: true},
		{name: "BMC silent", fault: func(b *redfishbmc.BMC, _ *power) { must(b.SetReachability(redfishbmc.Silent)) },
			config: func(c *Config) { c.RequestTimeout = 100 * time.Millisecond },
			op:     "off", want: fence.ErrUnreachable, wantOn: true},
		{name: "keeps reporting On after ForceOff", fault: func(b *redfishbmc.BMC, _ *power) { b.SetLie(redfishbmc.SayOn) },
			config: shortDeadline,
			op:     "off", want: fence.ErrNotVerified, wantOn: false, hookRan: true},
		{name: "never settles within the deadline", bmc: func(c *redfishbmc.Config) { c.Settle = time.Hour },
			config: shortDeadline,
			op:     "off", want: fence.ErrNotVerified, wantOn: false, hookRan: true},
		{name: "keeps reporting Off after On", bmc: func(c *redfishbmc.Config) { c.StartOff = true },
			config: shortDeadline,
			fault:  func(b *redfishbmc.BMC, _ *power) { b.SetLie(redfishbmc.SayOff) },
			op:     "on", want: fence.ErrNotVerified, wantOn: true, hookRan: true},
		{name: "reset refused 409", fault: func(b *redfishbmc.BMC, _ *power) { b.RefuseResets(http.StatusConflict) },
			op: "off", want: fence.ErrRefused, wantOn: true},
		{name: "reset refused 403", fault: func(b *redfishbmc.BMC, _ *power) { b.RefuseResets(http.StatusForbidden) },
			op: "off", want: fence.ErrRefused, wantOn: true},
		{name: "reset fails 500", fault: func(_ *redfishbmc.BMC, p *power) { p.err = errors.New("stuck relay") },
			op: "off", want: fence.ErrRefused, wantOn: true},
		{name: "no such system", config: func(c *Config) { c.SystemID = "System.Embedded.1" },
			op: "off", want: nil, wantOn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, p := startBMC(t, tt.bmc)
			c := fastConfig(b)
			if tt.config != nil {
				tt.config(&c)
			}
			var logged bytes.Buffer
			d := newDevice(t, c, slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if tt.fault != nil {
				tt.fault(b, p)
			}
			start := time.Now()
			var err error
			switch tt.op {
			case "off":
				_, err = d.Off(t.Context())
			case "on":
				err = d.On(t.Context())
			case "status":
				_, err = d.Status(t.Context())
			}
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("%s succeeded, want an error", tt.op)
			}
			t.Logf("%s after %v: %v", tt.op, elapsed.Round(time.Millisecond), err)
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == tt.want; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			if limit := max(c.OffTimeout, c.OnTimeout) + time.Second; elapsed > limit {
				t.Errorf("%s took %v, beyond its deadline", tt.op, elapsed)
			}
			if b.PoweredOn() != tt.wantOn {
				t.Errorf("host powered on = %v, want %v", b.PoweredOn(), tt.wantOn)
			}
			if ran := len(p.seen()) > 0; ran != tt.hookRan {
				t.Errorf("power hook ran = %v, want %v", ran, tt.hookRan)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logged.String(), secret) {
				t.Errorf("the password is in the error or the log")
			}
		})
	}
}

func TestCancelledIsNotUnreachable(t *testing.T) {
	b, p := startBMC(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := newDevice(t, fastConfig(b), nil).Off(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Off(cancelled ctx) = %v, want context.Canceled", err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			t.Errorf("Off(cancelled ctx) wraps %v", s)
		}
	}
	if len(p.seen()) != 0 {
		t.Errorf("cancelled Off changed power: %v", p.seen())
	}
}

// TestRecoversAfterBMCComesBack checks nothing sticky survives a failed call.
func TestRecoversAfterBMCComesBack(t *testing.T) {
	b, _ := startBMC(t, nil)
	d := newDevice(t, fastConfig(b), nil)
	must(b.SetReachability(redfishbmc.Down))
	if _, err := d.Status(t.Context()); !errors.Is(err, fence.ErrUnreachable) {
		t.Fatalf("Status() with BMC down = %v", err)
	}
	must(b.SetReachability(redfishbmc.Up))
	if _, err := d.Off(t.Context()); err != nil {
		t.Fatalf("Off() after BMC came back = %v", err)
	}
}

// BenchmarkOffVerify measures Off (ForceOff and PowerState read back Off
// for power_wait) against the loopback test BMC; the host is powered on
// again outside the timer.
func BenchmarkOffVerify(b *testing.B) {
	for _, bc := range []struct {
		name   string
		settle time.Duration
		poll   time.Duration
		wait   time.Duration
	}{
		{"settle=0/power_wait=0", 0, 5 * time.Millisecond, 0},
		{"settle=20ms/poll=5ms/power_wait=0", 20 * time.Millisecond, 5 * time.Millisecond, 0},
		{"settle=0/poll=500ms/power_wait=2s", 0, 500 * time.Millisecond, 2 * time.Second},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bmc, _ := startBMC(b, func(c *redfishbmc.Config) { c.Settle = bc.settle })
			c := fastConfig(bmc)
			c.PollInterval, c.PowerWait = bc.poll, bc.wait
			d := newDevice(b, c, nil)
			ctx := b.Context()
			for b.Loop() {
				b.StopTimer()
				if err := d.On(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := d.Off(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// shortDeadline makes waiting for a state that never comes cheap.
func shortDeadline(c *Config) {
	c.RequestTimeout, c.OffTimeout, c.OnTimeout = time.Second, time.Second, time.Second
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// resetViaHTTP posts a reset the way any client would, bypassing the driver.
func resetViaHTTP(t *testing.T, b *redfishbmc.BMC, resetType string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST",
		b.Endpoint()+"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
		strings.NewReader(`{"ResetType":"`+resetType+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", secret)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CertPool()}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset %s: HTTP %d", resetType, resp.StatusCode)
	}
}

// On a multi-node chassis the Systems collection lists several servers.
// Without a configured system the driver once fenced the first member, a
// neighbour, and returned a valid-looking proof while the host ran on. It
// must refuse, naming the systems it found, in Status (the health check)
// and in Off, and change no power.
func TestSeveralSystemsWithoutSystemIDRefused(t *testing.T) {
	b, p := startBMC(t, func(c *redfishbmc.Config) { c.OtherSystems = []string{"blade2", "blade3"} })
	d := newDevice(t, fastConfig(b), nil)
	if _, err := d.Status(t.Context()); !errors.Is(err, fence.ErrInvalidConfig) || !strings.Contains(err.Error(), "blade2, blade3, 1") {
		t.Errorf("Status() = %v, want ErrInvalidConfig naming blade2, blade3, 1", err)
	}
	proof, err := d.Off(t.Context())
	if !errors.Is(err, fence.ErrInvalidConfig) || !strings.Contains(err.Error(), "blade2, blade3, 1") {
		t.Errorf("Off() = %+v, %v; want ErrInvalidConfig naming the systems", proof, err)
	}
	for _, id := range []string{"1", "blade2", "blade3"} {
		if on, _ := b.SystemPoweredOn(id); !on {
			t.Errorf("system %s was powered off", id)
		}
	}
	if len(p.seen()) != 0 {
		t.Errorf("power hook ran: %v", p.seen())
	}

	// Naming the host's system fences exactly it.
	c := fastConfig(b)
	c.SystemID = "1"
	if _, err := newDevice(t, c, nil).Off(t.Context()); err != nil {
		t.Fatalf("Off() with system 1 = %v", err)
	}
	if on, _ := b.SystemPoweredOn("blade2"); !on || b.PoweredOn() {
		t.Errorf("after Off of system 1: host on = %t, blade2 on = %t; want off, on", b.PoweredOn(), on)
	}
}

// certSHA256 is the fingerprint of the test BMC's certificate.
func certSHA256(t *testing.T, b *redfishbmc.BMC) []byte {
	t.Helper()
	blk, _ := pem.Decode(b.CertPEM())
	if blk == nil {
		t.Fatal("test BMC certificate is not PEM")
	}
	sum := sha256.Sum256(blk.Bytes)
	return sum[:]
}

// Before ca_file and cert_sha256 the only way to a self-signed BMC was
// insecure, which hands the password and a forged PowerState to whoever
// answers. A pinned certificate is accepted without any root; any other
// certificate is refused as ErrAuth before the password is sent.
func TestCertificatePin(t *testing.T) {
	b, p := startBMC(t, nil)
	c := fastConfig(b)
	c.RootCAs, c.CertSHA256 = nil, certSHA256(t, b)
	if _, err := newDevice(t, c, nil).Off(t.Context()); err != nil {
		t.Fatalf("Off() with the right pin = %v", err)
	}

	other, _ := startBMC(t, nil) // same address, another certificate
	c = fastConfig(other)
	c.RootCAs, c.CertSHA256 = nil, certSHA256(t, b)
	_, err := newDevice(t, c, nil).Status(t.Context())
	if !errors.Is(err, fence.ErrAuth) || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("Status() against another certificate = %v, want ErrAuth: not trusted", err)
	}
	if diff := cmp.Diff([]bool{false}, p.seen()); diff != "" {
		t.Errorf("power changes (-want +got):\n%s", diff)
	}
}

// Plain http needs its own option; insecure no longer implies it.
func TestPlainHTTPOnlyWithAllowHTTP(t *testing.T) {
	b, _ := startBMC(t, nil)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	c := fastConfig(b)
	c.Endpoint, c.RootCAs, c.InsecureTLS = srv.URL, nil, true
	if _, err := New(c, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New(http, insecure) = %v, want ErrInvalidConfig", err)
	}
	c.InsecureTLS, c.AllowHTTP = false, true
	if st, err := newDevice(t, c, nil).Status(t.Context()); err != nil || st != fence.StatusOn {
		t.Errorf("Status() over http with AllowHTTP = %v, %v", st, err)
	}
}
