// Package decision is vigil's judgement: is this compute host dead, and is it
// safe to restart its instances elsewhere?
//
// It is a pure state machine in the style of etcd/raft. Inputs (observations
// about hosts, results of actions, operator commands, leadership) arrive through
// Step with the controller's own receive time; Tick(now) evaluates every host and
// returns a Ready: the state transitions with the evidence and rule behind each,
// the actions to carry out (alert, fence, force-down, evacuate, unfence,
// re-enable) and the incident records to persist before acting.
//
// The package must never start goroutines, open sockets, read a clock, log, or
// touch the world. Its central promise is checked by tests, not left to
// convention: it never emits an evacuate for a host without a recorded,
// verified fence or an operator's confirmation.
package decision
