package redfishbmc

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The BMC enforces its user's role the way the DMTF privilege registry
// says: resets need ConfigureComponents, reading another user's account
// needs ConfigureUsers, and the user's own account and every role are
// readable with Login.
func TestRolesAreEnforced(t *testing.T) {
	tests := []struct {
		role            string
		wantReset       int
		wantOwner       int
		wantPrivileges  []string
		wantPoweredDown bool
	}{
		{"Administrator", http.StatusNoContent, http.StatusOK, roles["Administrator"], true},
		{"Operator", http.StatusNoContent, http.StatusForbidden, []string{"Login", "ConfigureSelf", "ConfigureComponents"}, true},
		{"ReadOnly", http.StatusForbidden, http.StatusForbidden, []string{"Login", "ConfigureSelf"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			b, h := newBMC(t, func(c *Config) { c.Role = tt.role })
			var acct struct {
				UserName, RoleId string
				Links            struct{ Role link }
			}
			decode(t, serve(t, b, "GET", accountsPath+"/2", goodAuth, ""), &acct)
			if acct.UserName != b.cfg.Username || acct.RoleId != tt.role || acct.Links.Role.ID != rolesPath+"/"+tt.role {
				t.Errorf("own account = %+v, want user %s with role %s", acct, b.cfg.Username, tt.role)
			}
			var role struct{ AssignedPrivileges []string }
			decode(t, serve(t, b, "GET", acct.Links.Role.ID, goodAuth, ""), &role)
			if diff := cmp.Diff(tt.wantPrivileges, role.AssignedPrivileges); diff != "" {
				t.Errorf("AssignedPrivileges (-want +got):\n%s", diff)
			}
			if got := serve(t, b, "GET", accountsPath+"/1", goodAuth, "").Code; got != tt.wantOwner {
				t.Errorf("GET the owner's account: %d, want %d", got, tt.wantOwner)
			}
			if got := serve(t, b, "POST", resetPath, goodAuth, `{"ResetType":"ForceOff"}`).Code; got != tt.wantReset {
				t.Errorf("ForceOff: %d, want %d", got, tt.wantReset)
			}
			if down := len(h.seen()) == 1 && !b.PoweredOn(); down != tt.wantPoweredDown {
				t.Errorf("powered down = %t, want %t (hook %v)", down, tt.wantPoweredDown, h.seen())
			}
		})
	}
}

func TestNoAccountService(t *testing.T) {
	b, _ := newBMC(t, func(c *Config) { c.NoAccountService = true })
	var root map[string]any
	decode(t, serve(t, b, "GET", rootPath, noAuth, ""), &root)
	if _, ok := root["AccountService"]; ok {
		t.Errorf("service root links AccountService: %v", root)
	}
	if got := serve(t, b, "GET", acctSvcPath, goodAuth, "").Code; got != http.StatusNotFound {
		t.Errorf("GET %s: %d, want 404", acctSvcPath, got)
	}
}

// Nmi is listed and accepted by default, counted, and changes no power;
// with NoNMI it is neither listed nor accepted.
func TestNMI(t *testing.T) {
	for _, noNMI := range []bool{false, true} {
		b, h := newBMC(t, func(c *Config) { c.NoNMI = noNMI })
		var sys struct {
			Actions struct {
				Reset struct {
					Allowed []string `json:"ResetType@Redfish.AllowableValues"`
				} `json:"#ComputerSystem.Reset"`
			}
		}
		decode(t, serve(t, b, "GET", systemPath, goodAuth, ""), &sys)
		listed := false
		for _, rt := range sys.Actions.Reset.Allowed {
			listed = listed || rt == "Nmi"
		}
		code := serve(t, b, "POST", resetPath, goodAuth, `{"ResetType":"Nmi"}`).Code
		want, wantNMIs := http.StatusNoContent, 1
		if noNMI {
			want, wantNMIs = http.StatusBadRequest, 0
		}
		if listed == noNMI || code != want || b.NMIs() != wantNMIs {
			t.Errorf("NoNMI=%t: Nmi listed %t, POST %d, NMIs %d; want listed %t, %d, %d",
				noNMI, listed, code, b.NMIs(), !noNMI, want, wantNMIs)
		}
		if len(h.seen()) != 0 || !b.PoweredOn() {
			t.Errorf("NoNMI=%t: an NMI changed power: %v", noNMI, h.seen())
		}
	}
}
