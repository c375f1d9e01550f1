// Package probe is what a compute host's agent knows about its own host,
// for decision.SelfReport: the guests libvirt runs (GuestWatcher: a libvirt
// connection with a lifecycle-event subscription, reconnected when libvirtd
// restarts), whether nova-compute and libvirtd run and when each run started
// (a Docker container probe for Kolla, a /proc probe for package installs,
// both turned into running-and-restarts by a Tracker), and the boot id.
//
// The I/O sits at the edges behind small interfaces (ContainerInspector, the
// watcher's hypervisor connection, a /proc root); what the observations mean
// (a new start time is a restart, which lifecycle event ends a guest) are pure
// functions tested on their own.
//
// It must never change anything on the host: no domain is destroyed, no
// container or process is started, stopped or signalled here. The isolation
// response belongs to the agent. It decides nothing either: it reports, and
// the controller's engine judges.
package probe
