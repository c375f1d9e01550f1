// Package child starts the daemons of the test harness (Ceph, libvirtd,
// dockerd, …) so that they die with the test process that started them: a
// crashed or timed-out test must leave no daemon behind holding ports,
// sockets or mounts.
//
// It is test harness: production code must not import it.
package child
