// Package uplink is the agent's side of the transport to the controllers:
// one UDP socket per network, from which the agent's reports and stop
// notices go, each sealed on its own, to every controller on that network,
// and through a configured peer when the agent hears no controller on any
// network; and through which it relays its peers' packets while it hears
// the controllers itself (docs/architecture.md, "The transport").
//
// It implements agent.Outbox and turns the grants and acknowledgements
// that reach it into agent.Inbound. It judges no grant (that is the
// Contract's) and must never feed a watchdog, open a packet sealed for
// another host, or log a key.
package uplink
