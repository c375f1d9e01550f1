// Package libvirtd starts a throwaway libvirtd for integration tests.
//
// Run as root, it starts libvirtd as the unprivileged user nobody, which
// makes it a session daemon: every socket, pid file, log, domain definition
// and QEMU monitor lives under the harness's own directory (XDG_RUNTIME_DIR,
// XDG_CONFIG_HOME and XDG_CACHE_HOME point there), nothing under /run/libvirt
// or /var/lib/libvirt, so it can never clash with a system libvirtd or
// another test's. Both the test driver (test:///default, served by the
// daemon) and real QEMU guests (qemu:///session, TCG, no KVM needed) work
// there, and lifecycle events, a kill -9 of QEMU and a restart of libvirtd
// behave as they do under qemu:///system.
//
// This package must never touch a libvirtd it did not start: it signals only
// its child and processes whose command line or environment names its
// directory. It is test harness: production code must not import it.
package libvirtd
