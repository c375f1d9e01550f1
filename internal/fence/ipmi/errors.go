package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/vigil-ha/vigil/internal/fence"
)

// classify wraps err from one step of a go-ipmi call in the fence sentinel
// that fits. answered says whether any datagram came back from the BMC
// during the step.
//
//	caller cancelled ctx                           → ctx's error, no sentinel
//	no datagram came back                          → fence.ErrUnreachable
//	BMC rejected the username or password          → fence.ErrAuth
//	BMC answered with a non-zero completion code   → fence.ErrRefused
//	network error or timeout after it had answered → fence.ErrUnreachable
//	anything else                                  → no sentinel
//
// go-ipmi's error text names the address and the step, never the password.
func classify(step string, err error, answered bool) error {
	if err == nil {
		return nil
	}
	err = oneLine{err}
	var (
		resp   *types.ResponseError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", step, err)
	case !answered:
		return fmt.Errorf("%s: no reply from the BMC: %w: %w", step, fence.ErrUnreachable, err)
	case credentialsRejected(err):
		return fmt.Errorf("%s: %w: %w", step, fence.ErrAuth, err)
	case errors.As(err, &resp):
		return fmt.Errorf("%s: completion code %#02x: %w: %w", step, uint8(resp.CompletionCode()), fence.ErrRefused, err)
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", step, fence.ErrUnreachable, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// diagUnsupported are the completion codes (IPMI 2.0 table 5-2) with which
// a BMC says it cannot pulse a diagnostic interrupt: 0xC1 invalid command,
// 0xC9 parameter out of range, 0xCC invalid data field in request (what
// ipmi_sim, OpenIPMI's lanserv, answers), 0xD6 sub-function disabled or
// unavailable.
var diagUnsupported = []types.CompletionCode{0xc1, 0xc9, 0xcc, 0xd6}

// diagErr marks a classified chassis-control error whose completion code
// says the BMC cannot send a diagnostic interrupt with
// fence.ErrDiagUnsupported (it stays fence.ErrRefused too).
func diagErr(err error) error {
	var resp *types.ResponseError
	if errors.As(err, &resp) && slices.Contains(diagUnsupported, resp.CompletionCode()) {
		return fmt.Errorf("%w: %w", fence.ErrDiagUnsupported, err)
	}
	return err
}

// rejectedCredentials are the RMCP+ status codes (IPMI 2.0 table 13-15) a
// BMC answers session setup with when the user may not log in.
var rejectedCredentials = []types.RmcpStatusCode{
	types.RmcpStatusCodeUnauthorizedName,           // 0x0d: no such user
	types.RmcpStatusCodeInvalidIntegrityCheckValue, // 0x0f: RAKP 3 code wrong, i.e. a wrong password
	types.RmcpStatusCodeUnauthorizedRoleOfPriLevel, // 0x0a: user may not have the privilege asked for
}

// credentialsRejected reports whether err says the BMC turned the
// credentials down during session setup: the BMC's RAKP 2 code did not
// match our password (client.ErrRAKPAuthentication), or the BMC sent one of
// rejectedCredentials.
//
// This is the driver's only look at error text, and it is there because
// go-ipmi v0.9.1 leaves no choice: Client.Connect (Connect20 in
// client/interface_lan.go) joins the errors of the cipher suites it tried
// with %v, not %w, so the typed errors survive only as their text. The text
// compared is produced by go-ipmi's own values, not copied. The typed checks
// come first; once go-ipmi wraps with %w the text checks can go.
func credentialsRejected(err error) bool {
	var st *types.RmcpStatusError
	if errors.Is(err, client.ErrRAKPAuthentication) ||
		(errors.As(err, &st) && slices.Contains(rejectedCredentials, st.StatusCode())) {
		return true
	}
	msg := err.Error()
	if strings.Contains(msg, client.ErrRAKPAuthentication.Error()) {
		return true
	}
	for _, code := range rejectedCredentials {
		if strings.Contains(msg, types.NewRmcpStatusError(code).Error()) {
			return true
		}
	}
	return false
}

// oneLine keeps go-ipmi's multi-line error text on one line (it ends up in
// alerts and in one-line-per-device tables) while errors.Is/As still see the
// original.
type oneLine struct{ err error }

func (o oneLine) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(o.err.Error(), "\n", "; ")), " ")
}

func (o oneLine) Unwrap() error { return o.err }
