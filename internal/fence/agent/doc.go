// Package agent is a fence.Device that runs an installed fence agent
// (fence_ipmilan, fence_redfish, fence_idrac, ... from fence-agents) the way
// Pacemaker does: no arguments, options as key=value lines on stdin
// (action=off|on|status|monitor, ip, ipport, username, password, lanplus,
// cipher, and any further options from the config).
//
// Exit codes are the protocol: status exits 0 for on and 2 for off; off, on
// and monitor exit 0 for success; anything else is an *ExitError. Off does
// not trust the agent's success: it runs status until the agent reports off,
// and only then returns a Proof. A run that outlives RunTimeout is killed
// with its process group and reported as fence.ErrUnreachable.
//
// Fence agents exit 1 for every failure (wrong password, no answer, timed
// out) and tell which only in log text. This package does not parse that
// text, so a rejected login is an *ExitError, not fence.ErrAuth; the agent's
// last output lines travel in ExitError.Message for people to read.
//
// This package must never put the password on a command line, in the
// environment, in a log or in an error (it goes to the agent's stdin only,
// and is cut out of the output it keeps), and never run anything but an
// agent whose name matches fence_[a-z0-9_]+.
package agent
