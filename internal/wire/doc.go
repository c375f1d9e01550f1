// Package wire is what crosses the network between vigil's agents and its
// controllers: the messages (an agent's report on one network, its clean-stop
// notice, its observations of peers, the leader's grant, acknowledgement and
// challenge, and a relay envelope that a peer forwards unread), their compact
// versioned encoding, their authenticated encryption with per-host keys, and
// the controller's replay gate (docs/architecture.md, "The wire").
//
// It maps its messages to and from the decision engine's types and holds no
// state of the contract: a grant's validity is the agent's Contract's to
// judge, liveness the engine's. It must never open a socket, start a
// goroutine, read a clock (time is passed in), log, or print a key.
package wire
