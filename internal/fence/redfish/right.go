package redfish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/common"

	"github.com/vigil-ha/vigil/internal/fence"
)

var _ fence.RightChecker = (*Device)(nil)

// resetPrivilege is what a role must grant for ComputerSystem.Reset: the
// DMTF Redfish privilege registry (DSP8011, Redfish_1.x_PrivilegeRegistry)
// maps POST on a ComputerSystem, and so its actions, to
// ConfigureComponents. DSP0266's Operator and Administrator roles grant
// it; ReadOnly does not.
const resetPrivilege = "ConfigureComponents"

// CheckRight is the health check: it reads PowerState as Status does, then
// proves the account may fence. It finds the account by its UserName in
// AccountService's Accounts (a user may read its own), reads its role
// (Links.Role, else the Roles member whose RoleId matches) and fails with
// fence.ErrRefused, naming the missing privilege, unless the role's
// AssignedPrivileges include ConfigureComponents. A BMC that exposes no
// AccountService, or does not let the account read it, passes the check
// with a Right that says the right was not proven, and why.
func (d *Device) CheckRight(ctx context.Context) (fence.Status, fence.Right, error) {
	c, sys, err := d.open(ctx, "check")
	if err != nil {
		return fence.StatusUnknown, fence.Right{}, err
	}
	r, err := d.right(c)
	if err != nil {
		return fence.StatusUnknown, fence.Right{}, err
	}
	return statusOf(sys.PowerState), r, nil
}

// errNotShown ends the search for the account's role where the BMC does
// not show it: the right is then unproven, not refused.
type errNotShown struct{ why string }

func (e errNotShown) Error() string { return e.why }

func notShown(format string, args ...any) error { return errNotShown{fmt.Sprintf(format, args...)} }

// right finds the account's role and judges it.
func (d *Device) right(c *gofish.APIClient) (fence.Right, error) {
	roleID, privs, err := d.rolePrivileges(c)
	var ns errNotShown
	switch {
	case errors.As(err, &ns):
		return fence.Right{Detail: ns.why}, nil
	case err != nil:
		return fence.Right{}, err
	}
	return judgeRight(d.cfg.Username, roleID, privs)
}

// judgeRight decides from the account's role whether it may fence.
func judgeRight(user, roleID string, privs []string) (fence.Right, error) {
	if slices.Contains(privs, resetPrivilege) {
		return fence.Right{Proven: true, Detail: fmt.Sprintf("account %s has role %s, which grants %s (what ComputerSystem.Reset needs)",
			user, roleID, resetPrivilege)}, nil
	}
	have := strings.Join(privs, ", ")
	if have == "" {
		have = "none"
	}
	return fence.Right{}, fmt.Errorf("redfish: check: %w: account %s has role %s (privileges: %s), which lacks %s: the BMC would refuse ComputerSystem.Reset; give the account the Operator role",
		fence.ErrRefused, user, roleID, have, resetPrivilege)
}

// rolePrivileges returns the account's RoleId and its role's
// AssignedPrivileges, or errNotShown where the BMC does not show them.
func (d *Device) rolePrivileges(c *gofish.APIClient) (string, []string, error) {
	var root struct{ AccountService common.Link }
	if err := getJSON(c, common.DefaultServiceRoot, &root); err != nil {
		return "", nil, err
	}
	if root.AccountService == "" {
		return "", nil, notShown("the BMC's service root links no AccountService")
	}
	var svc struct {
		Accounts common.Link
		Roles    common.Link
	}
	if err := getJSON(c, string(root.AccountService), &svc); err != nil {
		return "", nil, err
	}
	if svc.Accounts == "" {
		return "", nil, notShown("%s links no Accounts", root.AccountService)
	}
	acct, err := d.findAccount(c, string(svc.Accounts))
	if err != nil {
		return "", nil, err
	}
	uri := string(acct.Links.Role)
	if uri == "" {
		if uri, err = findRole(c, string(svc.Roles), acct.RoleID); err != nil {
			return "", nil, err
		}
	}
	var role struct{ AssignedPrivileges []string }
	if err := getJSON(c, uri, &role); err != nil {
		return "", nil, err
	}
	id := acct.RoleID
	if id == "" {
		id = path.Base(uri)
	}
	return id, role.AssignedPrivileges, nil
}

// account is what the check reads of a ManagerAccount.
type account struct {
	UserName string
	RoleID   string `json:"RoleId"`
	Links    struct{ Role common.Link }
}

// findAccount reads the members of the Accounts collection until one has
// the configured UserName; members the account may not read are passed
// over.
func (d *Device) findAccount(c *gofish.APIClient, uri string) (account, error) {
	col, err := common.GetCollection(c, uri)
	if err != nil {
		return account{}, readErr("check: read "+uri, err)
	}
	for _, link := range col.ItemLinks {
		var a account
		err := getJSON(c, link, &a)
		var ns errNotShown
		switch {
		case errors.As(err, &ns):
			continue // another user's account: ConfigureUsers only
		case err != nil:
			return account{}, err
		case a.UserName == d.cfg.Username:
			return a, nil
		}
	}
	return account{}, notShown("no account named %s among the %d of %s it may read", d.cfg.Username, len(col.ItemLinks), uri)
}

// findRole is the member of the Roles collection whose RoleId (or Id) is
// roleID, for BMCs whose accounts carry no Links.Role.
func findRole(c *gofish.APIClient, uri, roleID string) (string, error) {
	if uri == "" || roleID == "" {
		return "", notShown("the account names no role the check can read")
	}
	col, err := common.GetCollection(c, uri)
	if err != nil {
		return "", readErr("check: read "+uri, err)
	}
	for _, link := range col.ItemLinks {
		var r struct {
			ID     string `json:"Id"`
			RoleID string `json:"RoleId"`
		}
		if err := getJSON(c, link, &r); err != nil {
			return "", err
		}
		if r.RoleID == roleID || (r.RoleID == "" && r.ID == roleID) {
			return link, nil
		}
	}
	return "", notShown("role %s is not among %s", roleID, uri)
}

// getJSON reads uri into v. A 401 fails as fence.ErrAuth and no answer as
// fence.ErrUnreachable (classify); any other HTTP error is errNotShown: the
// BMC does not show that resource to this account.
func getJSON(c *gofish.APIClient, uri string, v any) error {
	resp, err := c.Get(uri)
	if err != nil {
		return readErr("check: read "+uri, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("redfish: check: %s: %w", uri, err)
	}
	return nil
}

// readErr is classify for the check's reads, with HTTP errors other than
// 401 as errNotShown.
func readErr(op string, err error) error {
	var httpErr *common.Error
	if errors.As(err, &httpErr) && httpErr.HTTPReturnedStatusCode != 0 && httpErr.HTTPReturnedStatusCode != http.StatusUnauthorized {
		code := httpErr.HTTPReturnedStatusCode
		return notShown("%s: HTTP %d %s", strings.TrimPrefix(op, "check: "), code, http.StatusText(code))
	}
	return classify(op, reading, err)
}
