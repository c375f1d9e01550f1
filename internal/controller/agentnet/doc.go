// Package agentnet is the controller's side of the agents' transport: one
// UDP socket per network, through which agents' sealed reports, stop
// notices and observations come in (wire.Gate takes each fresh packet
// once), and the leader's grants, acknowledgements and retries go out,
// directly or back through the peer that relayed them
// (docs/architecture.md, "The transport").
//
// It carries messages and nothing else: what a report means is the
// engine's, whether a grant may be issued the Runner's. It must never
// answer a forged or replayed packet, answer anything while its member does
// not lead, or log a key.
package agentnet
