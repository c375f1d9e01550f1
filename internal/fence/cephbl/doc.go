// Package cephbl fences a compute host's storage: it puts the host's Ceph
// client addresses on the OSD blocklist, so that every librbd client on the
// host (every QEMU) gets ESHUTDOWN on its next write, and it verifies that.
// It is a fence.Device ("ceph-blocklist") for one host.
//
// Off, for the host's instance disks (RBD images):
//
//  1. blocklists each of the host's IPs as a whole-IP entry ("IP:0/0"; Ceph
//     Pacific 16.2.15 accepts these, and an entry with port 0 and nonce 0
//     matches every client of that IP), unless Config.OwnerEntriesOnly;
//  2. reads each image's lock owners and blocklists the exact address of
//     every owner on the host. Owners, not watchers: a crashed client's
//     watch stays listed for ~30 s. Images are opened read-only, so the
//     owners come from rbd_list_lockers (what `rbd lock ls` shows);
//     rbd_lock_get_owners answers EINVAL on a read-only handle;
//  3. verifies, polling until Config.VerifyTimeout: every entry is listed by
//     `osd blocklist ls`, and no watcher from the host's IPs is left on any
//     of the images.
//
// Whole-IP entries come first because they fence every client of the host at
// once, including ones on disks the caller does not know about; the exact
// owner entries then make the proof name the writers that were cut off.
//
// Entries expire after Config.Expire (24 h by default; Ceph's own default of
// 1 h is too short for a host that may come back). The driver persists
// nothing: the entries it added are returned in the Proof (EntriesFromProof)
// and kept in the Device; On removes the kept ones, Remove removes a given
// list (after a controller failover, the list from the stored Proof). An
// entry that already existed before Off is never claimed, so neither On nor
// Remove takes away an entry someone else made. Ceph does not extend an
// existing entry's expiry when it is added again (measured on 16.2.15), so
// Off reports such entries with their expiry in the Proof instead.
//
// The librados/librbd code needs cgo and the `pacific` build tag: vigil is
// built with `go build -tags pacific` against Debian's librados-dev and
// librbd-dev (go-ceph v0.34.0, the last release that supports Pacific).
// Without the tag only the configuration and the pure helpers compile, so
// `go test ./...` works on a machine without librados.
//
// This package must never blocklist an address that is not on the host's
// IPs, never remove an entry it did not add, and never run from the host it
// fences (Off refuses when its own client address is one of the host's IPs:
// it would cut itself off). The host's IPs must be addresses only its
// clients use: blocklisting the IP of a host that also runs OSDs or mons
// would cut those daemons' client sessions too.
package cephbl
