package redfish

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
)

// posts serves b's handler over TLS and records the body of every POST.
type posts struct {
	mu     sync.Mutex
	bodies []string
}

func (p *posts) serve(t *testing.T, b *redfishbmc.BMC) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
			p.mu.Lock()
			p.bodies = append(p.bodies, strings.TrimSpace(string(body)))
			p.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		b.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *posts) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies...)
}

// Diag sends Nmi only to a system that lists it and runs, and changes no
// power: against the test BMC, each case shows what reached the BMC.
func TestDiag(t *testing.T) {
	nmi := []string{`{"ResetType":"Nmi"}`}
	tests := []struct {
		name      string
		bmc       func(*redfishbmc.Config)
		config    func(*Config)
		sent      bool
		want      error // the sentinel the error wraps when not sent; nil: none
		wantPosts []string
		wantNMIs  int
		wantText  string // in the detail or the error
	}{
		{name: "sent", sent: true, wantPosts: nmi, wantNMIs: 1, wantText: "Nmi accepted for /redfish/v1/Systems/1 (PowerState On)"},
		{name: "not listed: refused before sending", bmc: func(c *redfishbmc.Config) { c.NoNMI = true },
			want: fence.ErrDiagUnsupported, wantText: "does not list Nmi among its allowable reset types (On, ForceOff, GracefulShutdown, ForceRestart)"},
		{name: "host off: nothing to interrupt", bmc: func(c *redfishbmc.Config) { c.StartOff = true },
			wantText: `reads PowerState "Off"`},
		{name: "read-only account: the BMC refuses", bmc: func(c *redfishbmc.Config) { c.Role = "ReadOnly" },
			want: fence.ErrRefused, wantPosts: nmi, wantText: "InsufficientPrivilege"},
		{name: "wrong password", config: func(c *Config) { c.Password = "wrong" },
			want: fence.ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, p := startBMC(t, tt.bmc)
			var rec posts
			c := fastConfig(b)
			c.Endpoint, c.RootCAs, c.InsecureTLS = rec.serve(t, b), nil, true
			if tt.config != nil {
				tt.config(&c)
			}
			detail, err := newDevice(t, c, nil).Diag(t.Context())
			text := detail
			switch {
			case tt.sent && err != nil:
				t.Fatalf("Diag() = %v", err)
			case !tt.sent && err == nil:
				t.Fatalf("Diag() = %q, want an error", detail)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("Diag() = %v, want %v", err, tt.want)
			}
			if err != nil {
				text = err.Error()
				for _, s := range sentinels {
					if errors.Is(err, s) && s != tt.want {
						t.Errorf("Diag() error wraps %v too", s)
					}
				}
			}
			if !strings.Contains(text, tt.wantText) {
				t.Errorf("Diag() says %q, want %q in it", text, tt.wantText)
			}
			if diff := cmp.Diff(tt.wantPosts, rec.seen()); diff != "" {
				t.Errorf("POSTs that reached the BMC (-want +got):\n%s", diff)
			}
			if b.NMIs() != tt.wantNMIs {
				t.Errorf("BMC accepted %d NMIs, want %d", b.NMIs(), tt.wantNMIs)
			}
			if len(p.seen()) != 0 {
				t.Errorf("Diag changed power: %v", p.seen())
			}
		})
	}
}
