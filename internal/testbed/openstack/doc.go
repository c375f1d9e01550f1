// Package openstack starts a single-machine OpenStack Zed for integration
// tests: Keystone, Placement, Glance, Nova (API, conductor, scheduler),
// MariaDB, RabbitMQ, a Neutron stand-in, and any number of nova-compute hosts
// on Nova's fake virt driver, each one process with its own `host` (cmp1,
// cmp2, …), optionally inside a network namespace the caller made, so that a
// test can cut that host's management link and watch Nova report it down.
//
// The services are Debian 12's packages (scripts/install-deps.sh openstack
// installs them) run by hand, every listener on 127.0.0.1, every file under
// the bed's directory ($VIGIL_RUN/openstack): configs, databases, logs and pid
// files. The control plane is started by controlplane.sh, adapted from the
// project's shared recipe; this package starts the compute hosts, the relays
// that carry a namespaced host's traffic to the control plane, and seeds a
// flavor, an image and unlimited quota.
//
// Starting takes a minute or more, so the bed outlives the process that
// started it: daemons run in their own sessions, not tied to the test, and a
// later Start, in this process or another, reuses what is running. A lock file
// lets one process at a time use the bed (Start waits for it). Stop ends
// every process the bed started, found by its pid files and recognised by the
// VIGIL_OPENSTACK_BED variable in its environment; it never signals anything
// else. Nova's report_interval and service_down_time are shortened
// (DefaultConfig: 2 s and 6 s) so a stopped host is "down" within seconds.
//
// It is test harness: production code must not import it. The helpers that
// work around gophercloud's traps (Evacuate, SetForcedDown) are the minimum the
// tests need; vigil's Nova executor carries its own.
package openstack
