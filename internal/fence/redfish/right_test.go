package redfish

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/redfishbmc"
)

// The health check proves the right to fence from the account's role, for
// each of DSP0266's predefined roles. A ReadOnly account logs in and reads
// the power state, so a check of the login alone passed, and the BMC
// refused the fence: the check must fail now, naming the privilege, and
// Off shows the BMC indeed refuses.
func TestRightFromRole(t *testing.T) {
	tests := []struct {
		role       string
		wantProven bool
		wantText   string
	}{
		{"Administrator", true, "account admin has role Administrator, which grants ConfigureComponents"},
		{"Operator", true, "account admin has role Operator, which grants ConfigureComponents"},
		{"ReadOnly", false, "account admin has role ReadOnly (privileges: Login, ConfigureSelf), which lacks ConfigureComponents"},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			b, p := startBMC(t, func(c *redfishbmc.Config) { c.Role = tt.role })
			d := newDevice(t, fastConfig(b), nil)
			if st, err := d.Status(t.Context()); err != nil || st != fence.StatusOn {
				t.Fatalf("Status() = %v, %v: the login works for every role", st, err)
			}
			st, r, err := d.CheckRight(t.Context())
			if tt.wantProven {
				if err != nil || !r.Proven || st != fence.StatusOn || !strings.Contains(r.Detail, tt.wantText) {
					t.Fatalf("CheckRight() = %v, %+v, %v; want on, proven: %q", st, r, err, tt.wantText)
				}
				return
			}
			if !errors.Is(err, fence.ErrRefused) || r.Proven || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("CheckRight() = %v, %+v, %v; want ErrRefused: %q", st, r, err, tt.wantText)
			}
			for _, s := range []error{fence.ErrAuth, fence.ErrUnreachable} {
				if errors.Is(err, s) {
					t.Errorf("CheckRight() wraps %v too", s)
				}
			}
			if _, err := d.Off(t.Context()); !errors.Is(err, fence.ErrRefused) || !b.PoweredOn() || len(p.seen()) != 0 {
				t.Errorf("Off() as %s = %v, host on %t: want the BMC's refusal the check foresaw", tt.role, err, b.PoweredOn())
			}
		})
	}
}

// Where the BMC does not show the account's role, the check passes and
// says the right was not proven, and why.
func TestRightNotProven(t *testing.T) {
	tests := []struct {
		name     string
		bmc      func(*redfishbmc.Config)
		rewrite  func(w http.ResponseWriter, r *http.Request) bool // true: answered, the BMC is not asked
		wantText string
	}{
		{name: "no AccountService", bmc: func(c *redfishbmc.Config) { c.NoAccountService = true },
			wantText: "the BMC's service root links no AccountService"},
		{name: "AccountService forbidden", rewrite: forbid("/redfish/v1/AccountService"),
			wantText: "read /redfish/v1/AccountService: HTTP 403 Forbidden"},
		{name: "own account unreadable", rewrite: forbid("/redfish/v1/AccountService/Accounts/2"),
			wantText: "no account named admin among the 2 of /redfish/v1/AccountService/Accounts it may read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := startBMC(t, tt.bmc)
			c := fastConfig(b)
			if tt.rewrite != nil {
				c.Endpoint, c.RootCAs, c.InsecureTLS = rewriting(t, b, tt.rewrite), nil, true
			}
			st, r, err := newDevice(t, c, nil).CheckRight(t.Context())
			if err != nil || st != fence.StatusOn || r.Proven || r.Detail != tt.wantText {
				t.Errorf("CheckRight() = %v, %+v, %v; want on, unproven: %q", st, r, err, tt.wantText)
			}
		})
	}
}

// An account without Links.Role still names its RoleId: the check finds
// the role in the Roles collection.
func TestRightFromRolesCollection(t *testing.T) {
	b, _ := startBMC(t, func(c *redfishbmc.Config) { c.Role = "Operator" })
	strip := func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/redfish/v1/AccountService/Accounts/") {
			return false
		}
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, r)
		var acct map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &acct); err != nil {
			t.Error(err)
		}
		delete(acct, "Links")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(acct)
		return true
	}
	c := fastConfig(b)
	c.Endpoint, c.RootCAs, c.InsecureTLS = rewriting(t, b, strip), nil, true
	_, r, err := newDevice(t, c, nil).CheckRight(t.Context())
	if err != nil || !r.Proven || !strings.Contains(r.Detail, "role Operator") {
		t.Errorf("CheckRight() = %+v, %v; want proven through the Roles collection", r, err)
	}
}

// The health check's failures keep their kinds: a wrong password is
// ErrAuth, not a missing privilege.
func TestRightWrongPasswordIsAuth(t *testing.T) {
	b, _ := startBMC(t, nil)
	c := fastConfig(b)
	c.Password = "wrong"
	if _, _, err := newDevice(t, c, nil).CheckRight(t.Context()); !errors.Is(err, fence.ErrAuth) || errors.Is(err, fence.ErrRefused) {
		t.Errorf("CheckRight() with a wrong password = %v, want ErrAuth only", err)
	}
}

func TestJudgeRight(t *testing.T) {
	tests := []struct {
		privs   []string
		proven  bool
		wantErr string
	}{
		{[]string{"Login", "ConfigureComponents"}, true, ""},
		{[]string{"Login", "ConfigureSelf"}, false, "(privileges: Login, ConfigureSelf), which lacks ConfigureComponents"},
		{nil, false, "(privileges: none), which lacks ConfigureComponents"},
		// ConfigureManager (the BMC itself) is not the right to reset a system.
		{[]string{"Login", "ConfigureManager", "ConfigureUsers"}, false, "lacks ConfigureComponents"},
	}
	for _, tt := range tests {
		r, err := judgeRight("vigil", "Custom", tt.privs)
		if r.Proven != tt.proven || (err == nil) != tt.proven {
			t.Errorf("judgeRight(%v) = %+v, %v; want proven %t", tt.privs, r, err, tt.proven)
		}
		if err != nil && (!errors.Is(err, fence.ErrRefused) || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("judgeRight(%v) error %q, want ErrRefused saying %q", tt.privs, err, tt.wantErr)
		}
	}
}

// forbid answers 403 for path, as a BMC that hides it from this account.
func forbid(path string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != path {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = bytes.NewBufferString(`{"error":{"code":"Base.1.8.InsufficientPrivilege","message":"no"}}`).WriteTo(w)
		return true
	}
}

// rewriting serves b over TLS, letting rewrite answer first.
func rewriting(t *testing.T, b *redfishbmc.BMC, rewrite func(http.ResponseWriter, *http.Request) bool) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rewrite(w, r) {
			b.Handler().ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
