// Package fence defines what a fence device is and runs a host's fencing
// topology: ordered levels, every device of a level must succeed and be
// verified, and a failed level falls through to the next.
//
// Drivers live in sub-packages (ipmi, redfish, agent, cephbl), one per kind of
// device. A driver's Off returns nil only when it has verified that the host can
// no longer write (power read back as off, blocklist entries present and the
// host's watchers gone); a BMC's "success" reply alone is never proof.
//
// This package must never treat a Nova force-down as a fence: force-down is a
// recovery step, not a way to stop a writer.
package fence
