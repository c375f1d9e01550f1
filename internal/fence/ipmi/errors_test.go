package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/vigil-ha/vigil/internal/fence"
)

// connectErr wraps err the way go-ipmi v0.9.1's Connect20 does for a failed
// cipher suite: errors.Join printed with %v, which drops the types.
func connectErr(err error) error {
	return fmt.Errorf("connect20 failed after try all cipher suite ids ([3]), errs: \n%v",
		errors.Join(fmt.Errorf("cmd: rakp1 failed with cipher suite id (3), err: validate rakp2 message failed, err: %w", err)))
}

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "read", Net: "udp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name     string
		err      error
		answered bool
		want     error // sentinel the result must wrap; nil = none of them
		also     error // another error the result must wrap, if any
	}{
		{"connection refused", fmt.Errorf("IPMI LAN: UDP exchange error: %w", refused), false, fence.ErrUnreachable, refused},
		{"silence, untyped", errors.New("udp exchange: no datagram matched before deadline"), false, fence.ErrUnreachable, nil},
		{"deadline before any reply", context.DeadlineExceeded, false, fence.ErrUnreachable, context.DeadlineExceeded},
		{"caller cancelled", fmt.Errorf("canceled from caller: %w", context.Canceled), false, nil, context.Canceled},
		{"wrong password, typed", fmt.Errorf("rakp2: %w", client.ErrRAKPAuthentication), true, fence.ErrAuth, nil},
		{"wrong password, as go-ipmi returns it", connectErr(client.ErrRAKPAuthentication), true, fence.ErrAuth, nil},
		{"unknown user, typed", types.NewRmcpStatusError(types.RmcpStatusCodeUnauthorizedName), true, fence.ErrAuth, nil},
		{"unknown user, as go-ipmi returns it", connectErr(types.NewRmcpStatusError(types.RmcpStatusCodeUnauthorizedName)), true, fence.ErrAuth, nil},
		{"bad RAKP 3, as go-ipmi returns it", connectErr(types.NewRmcpStatusError(types.RmcpStatusCodeInvalidIntegrityCheckValue)), true, fence.ErrAuth, nil},
		{"no cipher suite match is not auth", connectErr(types.NewRmcpStatusError(types.RmcpStatusCodeNoCipherSuiteMatch)), true, nil, nil},
		{"insufficient privilege", types.NewResponseError(types.CompletionCode(0xd4), "insufficient privilege"), true, fence.ErrRefused, nil},
		{"read error after replies", fmt.Errorf("x: %w", refused), true, fence.ErrUnreachable, nil},
		{"deadline after replies", fmt.Errorf("x: %w", context.DeadlineExceeded), true, fence.ErrUnreachable, nil},
		{"malformed reply", types.ErrUnpackedDataTooShort, true, nil, types.ErrUnpackedDataTooShort},
	}
	sentinels := []error{fence.ErrUnreachable, fence.ErrAuth, fence.ErrRefused, fence.ErrNotVerified}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify("step", tt.err, tt.answered)
			for _, s := range sentinels {
				if is := errors.Is(got, s); is != (s == tt.want) {
					t.Errorf("classify() = %v; errors.Is(%v) = %t, want %t", got, s, is, s == tt.want)
				}
			}
			if tt.also != nil && !errors.Is(got, tt.also) {
				t.Errorf("classify() = %v, lost %v", got, tt.also)
			}
			if !strings.HasPrefix(got.Error(), "step: ") {
				t.Errorf("classify() = %q, want it to name the step", got)
			}
		})
	}
	if classify("step", nil, true) != nil {
		t.Error("classify(nil) != nil")
	}
}

// A completion code that says "cannot" marks the error ErrDiagUnsupported
// (nothing reached the host, another device may try); others, and errors
// without a reply, do not.
func TestDiagErr(t *testing.T) {
	tests := []struct {
		cc   byte
		want bool
	}{
		{0xcc, true},  // ipmi_sim: invalid data field in request
		{0xc1, true},  // invalid command
		{0xc9, true},  // parameter out of range
		{0xd6, true},  // sub-function disabled or unavailable
		{0xd4, false}, // insufficient privilege: the BMC can, this user may not
		{0xc3, false}, // timeout: it may have reached the host
	}
	for _, tt := range tests {
		err := diagErr(classify("chassis control", types.NewResponseError(types.CompletionCode(tt.cc), "x"), true))
		if got := errors.Is(err, fence.ErrDiagUnsupported); got != tt.want || !errors.Is(err, fence.ErrRefused) {
			t.Errorf("completion code %#02x: %v; ErrDiagUnsupported %t, want %t (and ErrRefused)", tt.cc, err, got, tt.want)
		}
	}
	lost := diagErr(classify("chassis control", context.DeadlineExceeded, true))
	if errors.Is(lost, fence.ErrDiagUnsupported) || !errors.Is(lost, fence.ErrUnreachable) {
		t.Errorf("a lost reply: %v, want ErrUnreachable only", lost)
	}
	if diagErr(nil) != nil {
		t.Error("diagErr(nil) != nil")
	}
}
