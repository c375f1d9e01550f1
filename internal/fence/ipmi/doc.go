// Package ipmi is a fence.Device for a host's BMC over IPMI 2.0 lanplus
// (RMCP+), in pure Go on github.com/bougou/go-ipmi.
//
// Off sends chassis power down and then reads the chassis power state until
// it says off: only that read is proof, never the BMC's reply to the
// command. On is the same with power up. Every call opens its own session
// and closes it; a read that fails while verifying opens a new one.
//
// go-ipmi never reads a datagram the guard (guard.go) has not accepted:
// go-ipmi v0.9.1 panics on a short or misaligned encrypted reply, checks
// no integrity code and takes a plaintext IPMI 1.5 reply inside a 2.0
// session, so the guard follows the session, derives its keys and passes
// only authenticated, fresh, well-formed replies for it. The driver asks
// for operator privilege by default (enough for chassis control).
//
// Diag sends chassis control "pulse diagnostic interrupt" (an NMI, for a
// kdump) once, to a host whose power reads on; a BMC that answers "not
// supported" (ipmi_sim answers 0xCC) fails with fence.ErrDiagUnsupported.
//
// Failures wrap the fence sentinels: the BMC never answered →
// fence.ErrUnreachable; it rejected the username or password →
// fence.ErrAuth; it answered a command with a non-zero completion code →
// fence.ErrRefused; the state never read back as wanted → fence.ErrNotVerified.
//
// This package must never log the password or put it in an error, never
// return a Proof that no power-state read backs, and never power a host on
// except from On.
package ipmi
