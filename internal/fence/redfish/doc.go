// Package redfish is a fence.Device for a host's BMC speaking Redfish, through
// gofish v0.20.0.
//
// Off sends #ComputerSystem.Reset with ResetType ForceOff and then reads the
// system's PowerState until it is "Off"; only that read, made within the
// deadline, is proof. A BMC's success reply to the reset is never taken as
// proof. On sends "On" and reads PowerState back the same way. Failures are
// wrapped around the fence sentinels (ErrAuth, ErrUnreachable, ErrRefused,
// ErrNotVerified), decided from HTTP status codes and typed network errors.
//
// CheckRight, the health check, also proves the account's right to fence: its
// role (AccountService) must grant ConfigureComponents, the privilege the DMTF
// privilege registry requires for ComputerSystem.Reset; a BMC that shows no
// role passes unproven, and says so. Diag sends ResetType Nmi (a diagnostic
// interrupt, for a kdump) only to a system that lists it and is on.
//
// It uses HTTP basic auth on every request and creates no Redfish sessions, so
// a crash leaves no session behind on the BMC.
//
// This package must never log the password or put it in an error, a URL or a
// String form of its Config; never send GracefulShutdown (a fence must not
// wait for the host's cooperation); and never report a fence it has not read
// back.
package redfish
