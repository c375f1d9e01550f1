package redfish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/stmcginnis/gofish/common"

	"github.com/vigil-ha/vigil/internal/fence"
)

// phase says what a request was for: an HTTP error on a reset is a refusal,
// the same error on a read is not.
type phase int

const (
	reading phase = iota
	resetting
)

// classify wraps err from gofish or net/http in the fence sentinel that fits,
// deciding only by HTTP status code and error type:
//
//	401 anywhere                               → fence.ErrAuth
//	BMC certificate not trusted                → fence.ErrAuth
//	any other HTTP status >= 400 on a reset    → fence.ErrRefused
//	refused, reset, timed out, closed early    → fence.ErrUnreachable
//	caller cancelled ctx                       → ctx's error, no sentinel
//
// Anything else (an HTTP error on a read, a malformed body) keeps no sentinel.
// The text carries the HTTP status and Redfish MessageId, never the reply body.
func classify(op string, ph phase, err error) error {
	var httpErr *common.Error
	switch {
	case errors.As(err, &httpErr) && httpErr.HTTPReturnedStatusCode != 0:
		code := httpErr.HTTPReturnedStatusCode
		what := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
		if id := messageID(httpErr); id != "" {
			what += " (" + id + ")"
		}
		switch {
		case code == http.StatusUnauthorized:
			return fmt.Errorf("redfish: %s: %s: %w", op, what, fence.ErrAuth)
		case ph == resetting && code >= 400:
			return fmt.Errorf("redfish: %s: %s: %w", op, what, fence.ErrRefused)
		}
		return fmt.Errorf("redfish: %s: %s", op, what)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redfish: %s: %w", op, err)
	case untrustedCert(err):
		return fmt.Errorf("redfish: %s: BMC certificate not trusted: %w", op, fence.ErrAuth)
	case unreachable(err):
		return fmt.Errorf("redfish: %s: %w: %v", op, fence.ErrUnreachable, err)
	}
	return fmt.Errorf("redfish: %s: %w", op, err)
}

// messageID is the Redfish MessageId of an error reply, if it has one.
func messageID(e *common.Error) string {
	if e.Code != "" {
		return e.Code
	}
	for _, info := range e.ExtendedInfos {
		if info.MessageID != "" {
			return info.MessageID
		}
	}
	return ""
}

// errPinMismatch: the BMC presented a certificate other than the pinned one.
var errPinMismatch = errors.New("the BMC's certificate is not the pinned one")

func untrustedCert(err error) bool {
	if errors.Is(err, errPinMismatch) {
		return true
	}
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.As(err, &invalid)
}

// unreachable reports a failure to get any reply from the BMC.
func unreachable(err error) bool {
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return true
	}
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
