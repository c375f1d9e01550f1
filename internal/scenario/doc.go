// Package scenario is vigil's scenario language: YAML files that describe a
// cluster, a schedule of faults and operator actions, and what must be true
// at the end. The same files drive the simulator now and the real test bed
// later; docs/scenarios.md is the reference.
//
// Parsing is strict: an unknown key, an unknown verb, a host or network that
// the cluster does not have, or a fault with two verbs is an error that names
// the field. The package must not read the wall clock: a run is a pure
// function of the file, the policy and the seed.
package scenario
