// Package netns builds a lab of "hosts" out of Linux network namespaces, for
// integration and end-to-end tests.
//
// A lab is one fabric namespace holding a bridge per network (for example
// mgmt and storage) and one namespace per host, attached to every bridge by a
// veth pair. Each host gets one address per network. A test can cut and heal a
// host's link on one network, ping between hosts, run commands inside a host
// and list the processes living there. All of it is done by running the `ip`
// command (iproute2); it needs root.
//
// Namespace names start with the lab's Prefix, so labs of parallel test
// binaries never collide; interface names live inside the lab's own
// namespaces and are the same in every lab. Down removes everything.
//
// This package must never create or change anything in the root namespace
// (veth peers are created directly inside the lab's namespaces) and must never
// touch namespaces it did not create. It is test harness: production code must
// not import it.
package netns
