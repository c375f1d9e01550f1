// Package agent is vigil's compute-host agent: the evidence a host gives
// about itself, and the host's half of the watchdog contract
// (docs/architecture.md, "The watchdog contract").
//
// Contract is that half as a pure state machine of grants, clock readings
// and messages: the simulator's agents run it too, so every simulated and
// fuzzed schedule exercises the code a real host runs. Watchdog is the
// hardware timer it feeds.
package agent
