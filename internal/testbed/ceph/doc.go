// Package ceph starts a throwaway single-host Ceph Pacific cluster for
// integration tests, and runs real librbd writers against it.
//
// A Cluster is one monitor, one manager and one OSD on memstore, with a pool
// `rbd` of size 1, all on 127.0.0.1 and on ports from the caller's port base
// (mon v2 = base, v1 = base+1, other daemons base+10..base+100). It is built
// the way /work/shared/testbed/ceph/ceph-up.sh builds one: by running
// ceph-authtool, monmaptool, ceph-mon, ceph-mgr, ceph-osd, ceph and rbd. Startup
// takes 10–15 s, so a test package starts one cluster (from TestMain or a
// sync.Once) and shares it between its tests; two packages tested in parallel
// must use port bases at least 200 apart.
//
// A Writer is a separate process (cmd/rbdwriter, built with -tags pacific
// against librbd) that takes an image's exclusive lock and keeps writing,
// reporting every attempt with its errno. Being its own process it has its own
// Ceph client address, so it can be blocklisted without touching the test.
// It can send its traffic from another loopback address (127.0.0.2, …) so that
// a test can play a compute host whose whole IP gets blocklisted.
//
// This package must never touch a cluster it did not start: every command gets
// the cluster's own ceph.conf, nothing reads /etc/ceph, and processes are only
// signalled when they are our children or their command line names our
// ceph.conf. Its runtime directory must never be inside a Go module checkout
// (the repository) or a shared directory. It is test harness: production code
// must not import it.
package ceph
