// Package chaos generates random fault schedules as scenarios, runs them in
// the simulator and checks vigil's invariants against the world's ground
// truth: no double writer, no lost HA instance (held ones excepted), no
// evacuation without a verified fence or an operator's confirmation, nothing
// done to a host in maintenance. A failing schedule is shrunk to a minimal
// scenario file that reproduces it.
//
// Generation is deterministic from the seed; the package never reads the
// wall clock.
package chaos
