package redfishbmc

import (
	"net/http"
	"slices"
)

// Paths of the AccountService.
const (
	acctSvcPath  = "/redfish/v1/AccountService"
	accountsPath = "/redfish/v1/AccountService/Accounts"
	rolesPath    = "/redfish/v1/AccountService/Roles"
)

// Privileges of DSP0266 (Redfish specification, "Privilege model") that the
// BMC checks.
const (
	privConfigureComponents = "ConfigureComponents" // resets: the DMTF privilege registry maps ComputerSystem POST to it
	privConfigureUsers      = "ConfigureUsers"      // reading other users' accounts
)

// roles are DSP0266's predefined roles and their AssignedPrivileges.
var roles = map[string][]string{
	"Administrator": {"Login", "ConfigureManager", "ConfigureUsers", "ConfigureSelf", "ConfigureComponents"},
	"Operator":      {"Login", "ConfigureSelf", "ConfigureComponents"},
	"ReadOnly":      {"Login", "ConfigureSelf"},
}

// roleIDs lists roles in the order the collection shows them.
var roleIDs = []string{"Administrator", "Operator", "ReadOnly"}

// ownerName is the BMC's other account (Id 1), an administrator the
// configured user may not read unless its role lets it read users.
const ownerName = "bmc-owner"

// role is the configured user's role.
func (b *BMC) role() string {
	if b.cfg.Role == "" {
		return "Administrator"
	}
	return b.cfg.Role
}

// may reports whether the configured user's role grants priv.
func (b *BMC) may(priv string) bool { return slices.Contains(roles[b.role()], priv) }

func (b *BMC) getAccountService(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":    "#AccountService.v1_13_0.AccountService",
		"@odata.id":      acctSvcPath,
		"Id":             "AccountService",
		"Name":           "Account Service",
		"ServiceEnabled": true,
		"Accounts":       link{accountsPath},
		"Roles":          link{rolesPath},
	})
}

func (b *BMC) getAccounts(w http.ResponseWriter, _ *http.Request) {
	members := []link{{accountsPath + "/1"}, {accountsPath + "/2"}}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":         "#ManagerAccountCollection.ManagerAccountCollection",
		"@odata.id":           accountsPath,
		"Name":                "Accounts Collection",
		"Members@odata.count": len(members),
		"Members":             members,
	})
}

// getAccount serves account 1 (the owner, Administrator) and 2 (the
// configured user). As the privilege registry has it, a user reads its own
// account (ConfigureSelf) and others only with ConfigureUsers.
func (b *BMC) getAccount(w http.ResponseWriter, r *http.Request) {
	var user, role string
	switch id := r.PathValue("id"); id {
	case "1":
		if !b.may(privConfigureUsers) {
			writeError(w, http.StatusForbidden, "Base.1.8.InsufficientPrivilege", "reading another account needs ConfigureUsers")
			return
		}
		user, role = ownerName, "Administrator"
	case "2":
		user, role = b.cfg.Username, b.role()
	default:
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no account "+id)
		return
	}
	id := r.PathValue("id")
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type": "#ManagerAccount.v1_10_0.ManagerAccount",
		"@odata.id":   accountsPath + "/" + id,
		"Id":          id,
		"Name":        "User Account",
		"UserName":    user,
		"RoleId":      role,
		"Enabled":     true,
		"Locked":      false,
		"Links":       map[string]any{"Role": link{rolesPath + "/" + role}},
	})
}

func (b *BMC) getRoles(w http.ResponseWriter, _ *http.Request) {
	var members []link
	for _, id := range roleIDs {
		members = append(members, link{rolesPath + "/" + id})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":         "#RoleCollection.RoleCollection",
		"@odata.id":           rolesPath,
		"Name":                "Roles Collection",
		"Members@odata.count": len(members),
		"Members":             members,
	})
}

func (b *BMC) getRole(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	privs, ok := roles[id]
	if !ok {
		writeError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no role "+id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type":        "#Role.v1_3_1.Role",
		"@odata.id":          rolesPath + "/" + id,
		"Id":                 id,
		"Name":               id + " User Role",
		"RoleId":             id,
		"IsPredefined":       true,
		"AssignedPrivileges": privs,
		"OemPrivileges":      []string{},
	})
}
