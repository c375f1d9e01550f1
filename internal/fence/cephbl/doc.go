// Package cephbl fences a compute host's storage: it puts the host's Ceph
// client addresses on the OSD blocklist, so that every librbd client on the
// host (every QEMU) gets ESHUTDOWN on its next write, and it verifies that.
// It is a fence.Device ("ceph-blocklist") for one host.
//
// OffTarget (Off with an empty fence.Target), for the host's disks:
//
//  1. blocklists each of the host's IPs as a whole-IP entry ("IP:0/0";
//     Ceph Pacific 16.2.15 accepts these, and an entry with port 0 and
//     nonce 0 matches every client of that IP), unless
//     Config.OwnerEntriesOnly;
//  2. reads the lock owners of the disks that matter (the target's
//     instances' disks in Config.Pools, "<uuid>_disk" as Nova names them,
//     its volumes, Config.Images; with none known, every image of the pools
//     is read once and those the host uses are kept) and blocklists the
//     exact address of every owner on the host. Owners, not watchers: a
//     crashed client's watch stays listed for ~30 s. Images are opened
//     read-only; the owners come from rbd_list_lockers;
//  3. verifies, polling until Config.VerifyTimeout: every entry is in the
//     osdmap, every PG of the disks' pools answered a request at that
//     osdmap epoch (pg.go: so their OSDs enforce the entries), and no
//     watcher is left on the disks that the blocklist does not stop.
//
// Every entry vigil adds is recorded before it is sent (expiry asked for,
// time), and the Proof carries the typed record (fence.BlocklistProof):
// Release lifts the fence from it, only with a new boot id or an operator's
// force, and removes only entries whose listed expiry shows they are still
// the ones vigil added; Renew keeps the entries in force while the incident
// is open (renew_pacific.go); an entry someone else made counts only while it
// has Config.MinLifetime left. On refuses: it has no evidence. Status also
// proves the user's caps (docs/fencing.md).
//
// The librados/librbd code needs cgo and the `pacific` build tag: vigil is
// built with `go build -tags pacific` against Debian's librados-dev and
// librbd-dev (go-ceph v0.34.0, the last release that supports Pacific).
// Without the tag only the configuration and the pure helpers compile, so
// `go test ./...` works on a machine without librados.
//
// This package must never blocklist an address that is not on the host's
// IPs, never remove an entry it did not add (unless told to remove all of
// the host's), never leave a gap while renewing, and never run from the host it
// fences (Off refuses when its own client address is one of the host's IPs:
// it would cut itself off). The host's IPs must be addresses only its
// clients use: blocklisting the IP of a host that also runs OSDs or mons
// would cut those daemons' client sessions too.
package cephbl
