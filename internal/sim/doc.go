// Package sim is vigil's simulated world: compute hosts with several
// networks, per-host BMCs, a Nova model, Ceph-like disks that record every
// writer, and the controller that drives a decision policy, all in virtual
// time and deterministic from a seed.
//
// The world is ground truth. Guests keep writing their disks while their host
// runs and reaches Ceph, also after Nova has moved them elsewhere, and stop
// only when the host powers off, loses Ceph, its clients are blocklisted (until
// the entries expire), or the guest is destroyed. Ceph is its own member of
// the storage network, apart from the controllers. Two hosts writing one
// disk is a double writer: the seed incident's corruption.
//
// The controller feeds the policy the same inputs (decision.Input) the real
// controller collects and carries out the same actions (decision.Action)
// through models of IPMI, Ceph blocklisting and the Nova API. The package must
// never read the wall clock or use unseeded randomness: a run is a pure
// function of its scenario and seed.
package sim
