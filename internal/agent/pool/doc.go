// Package pool is an agent's peer probing on its networks: one memberlist
// pool (hashicorp/memberlist, SWIM with Lifeguard) per network, bound to the
// agent's own address there, every packet and stream encrypted and
// authenticated with the pools' shared key (wire.PoolKey, AES-256-GCM in
// memberlist's keyring, several generations while rotating). Memberlist
// keeps the membership and its own failure detection; on top of it every
// agent watches a few peers, its successors on a hash ring of the members
// (Watched), pings each of them every report interval through memberlist
// (answered by the peer's memberlist, inside the peer's agent process: a
// hung agent answers nothing, whatever its kernel does), and hands what it
// saw to the uplink as decision.PeerReports, sealed there with the host's
// own key (docs/architecture.md, "Peer pools").
//
// It judges nothing: a peer that did not answer in time is reported
// unreachable, and the engine decides. It must never send to the
// controllers itself, hold or log a host key, or hold up the agent's own
// reports: a pool that fails is logged and retried, and the agent goes on.
package pool
