// Package redfishbmc is a small Redfish BMC for tests: one computer system
// whose power is switched through a hook the test supplies.
//
// It serves HTTPS on 127.0.0.1 with an ephemeral port and a self-signed
// certificate made at start (no key or certificate files exist anywhere). The
// service root and what DSP0266 lets clients read without credentials
// (/redfish, /redfish/v1/, /redfish/v1/odata) and session creation are open;
// everything else needs HTTP basic auth or a session token. It implements the
// subset that Debian's fence_redfish and gofish v0.20.0 use: the Systems
// collection with /redfish/v1/Systems/1, its PowerState, the
// #ComputerSystem.Reset action (On, ForceOff, GracefulShutdown, ForceRestart,
// and Nmi, which it counts and which changes no power), a SessionService, and
// an AccountService with the user's account and DSP0266's predefined roles
// (Administrator, Operator, ReadOnly) and their AssignedPrivileges.
//
// Config.Role gives the user a role, and the BMC enforces it as the DMTF
// privilege registry maps it: a reset needs ConfigureComponents, reading
// another user's account ConfigureUsers. Config.NoAccountService makes a BMC
// that exposes no accounts; Config.NoNMI one that cannot send an NMI (Nmi
// neither listed in ResetType@Redfish.AllowableValues nor accepted).
//
// Faults are switched at run time: SetReachability makes the BMC refuse
// connections or accept them and never answer; SetLie makes it report a power
// state that is not the host's; RefuseResets makes it answer resets with an
// HTTP error. A power hook that returns an error makes the reset fail with 500.
// Config.OtherSystems makes it a multi-node chassis: further systems listed
// before the host's own, each with a power state of its own.
//
// It writes no runtime files. It must never listen on anything but loopback,
// never be linked into the vigil binary (it is a test harness), and never log
// the password or a session token.
package redfishbmc
