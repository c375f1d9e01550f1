// Package dockerd starts a throwaway Docker engine for integration tests:
// Debian's docker.io dockerd, run by hand as FIELD-NOTES describes (no
// systemd), with its socket, data root, exec root (and the containerd it
// starts) inside a directory of its own, no iptables rules and no bridge.
// Containers run with network "none". No registry can be reached, so
// ImportBusybox makes a tiny image from Debian's static busybox with the
// Engine API's import.
//
// This package must never touch an engine it did not start: it talks only to
// its own socket, signals only its child and processes whose command line
// names its directory, and unmounts only below that directory. It is test
// harness: production code must not import it.
package dockerd
