// Package kdump is a fence.Device for a host whose kernel crashed and is
// writing a kernel dump: it listens for the UDP messages that fence-agents'
// fence_kdump_send, run by the host's kdump kernel, sends to port 7410, and
// its Off succeeds when one arrives from one of the host's addresses within
// the timeout, as fence_kdump's off does. It cuts nothing: the host is dead
// because its crashed kernel, and the guests it ran, are gone; the dump may
// finish before anyone powers it off. When no message comes, Off fails, so
// that the topology's next level (power) runs.
//
// A Receiver shares one socket per listen address among the devices waiting
// on it, so that several hosts dumping at once are all heard.
//
// This package must never accept a message from an address that is not the
// host's, or one that is not fence_kdump's exact format; never send anything;
// and never count a message received before its Off began listening.
package kdump
