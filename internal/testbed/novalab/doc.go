// Package novalab is vigil's recovery on real parts with the real Nova: the
// namespaces, IPMI BMCs, agents and controller process of
// internal/testbed/hostlab, whose compute hosts also run a fake-driver
// nova-compute of the single-machine OpenStack (internal/testbed/openstack),
// named as vigil names the host (host0, host1, ...), and whose controller
// reads and drives that Nova.
//
// Each host's nova-compute is started into its namespace once the BMC has
// powered the host on, so a power-off through the BMC kills it with the
// agent: Nova learns of it only through the missing heartbeats, after its
// service_down_time, as it would of a dead host. It reaches the control
// plane through the bed's relays at the controller namespace's mgmt address.
// The controller, inside its namespace, reaches Keystone and Nova at the
// catalog's 127.0.0.1 URLs through relays this package serves on the
// namespace's loopback; the Nova one is an HTTP proxy that records every
// call and lets a test act on an evacuate request (kill the controller
// before it reaches Nova, or right after Nova answered it).
//
// It is test harness: production code must not import it. It changes
// nothing outside the lab's namespaces and the bed, and gives back what it
// took from the bed (compute services, relays) when the test ends.
package novalab
