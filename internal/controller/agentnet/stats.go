package agentnet

import (
	"errors"
	"sync/atomic"

	"github.com/vigil-ha/vigil/internal/wire"
)

// Stats counts what the server did with packets since Listen: each
// refusal by its error, and what it sent. Metrics export these later.
type Stats struct {
	Taken   uint64 // upstream messages the gate took
	Relayed uint64 // of which came through a peer

	// Refusals, by the gate's error (wire's sentinels).
	Replay, Stale, NoChallenge, Forged, UnknownKey, UnknownHost, Version, Malformed, Unexpected uint64
	// WrongNetwork: a report naming another network than the socket it
	// reached (a misconfigured agent, or a packet carried across).
	WrongNetwork uint64
	// NotLeading: packets dropped unopened because this member does not
	// lead; Ungranted: reports the Runner did not grant (deposed meanwhile,
	// a stale agent process, a fenced boot).
	NotLeading, Ungranted uint64

	// Grants, Acks, Retries: sealed and sent (SendFailed counts those
	// the socket refused too).
	Grants, Acks, Retries uint64
	// RetriesLimited: Retry answers the rate limit withheld.
	RetriesLimited uint64
	// AckNoPath: acknowledgements for a host never heard from.
	AckNoPath uint64
	// SendFailed: packets that could not be sealed or sent.
	SendFailed uint64
}

// Refused is the sum of every refusal.
func (s Stats) Refused() uint64 {
	return s.Replay + s.Stale + s.NoChallenge + s.Forged + s.UnknownKey + s.UnknownHost + s.Version + s.Malformed + s.Unexpected + s.WrongNetwork
}

// counters is Stats, counted concurrently.
type counters struct {
	taken, relayed                                                                         atomic.Uint64
	replay, stale, noChallenge, forged, unknownKey, unknownHost, version, malformed, unexp atomic.Uint64
	wrongNetwork, notLeading, ungranted                                                    atomic.Uint64
	grants, acks, retries, retriesLimited, ackNoPath, sendFailed                           atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Taken: c.taken.Load(), Relayed: c.relayed.Load(),
		Replay: c.replay.Load(), Stale: c.stale.Load(), NoChallenge: c.noChallenge.Load(), Forged: c.forged.Load(),
		UnknownKey: c.unknownKey.Load(), UnknownHost: c.unknownHost.Load(), Version: c.version.Load(),
		Malformed: c.malformed.Load(), Unexpected: c.unexp.Load(), WrongNetwork: c.wrongNetwork.Load(),
		NotLeading: c.notLeading.Load(), Ungranted: c.ungranted.Load(),
		Grants: c.grants.Load(), Acks: c.acks.Load(), Retries: c.retries.Load(), RetriesLimited: c.retriesLimited.Load(),
		AckNoPath: c.ackNoPath.Load(), SendFailed: c.sendFailed.Load(),
	}
}

// refused counts a refusal of the gate by its error. The order matters
// only where an error wraps two sentinels, which wire's do not.
func (c *counters) refused(err error) {
	for _, x := range [...]struct {
		sentinel error
		n        *atomic.Uint64
	}{
		{wire.ErrReplay, &c.replay}, {wire.ErrStale, &c.stale}, {wire.ErrNoChallenge, &c.noChallenge},
		{wire.ErrForged, &c.forged}, {wire.ErrUnknownKey, &c.unknownKey}, {wire.ErrUnknownHost, &c.unknownHost},
		{wire.ErrVersion, &c.version}, {wire.ErrUnexpected, &c.unexp},
	} {
		if errors.Is(err, x.sentinel) {
			x.n.Add(1)
			return
		}
	}
	c.malformed.Add(1) // wire.ErrMalformed, and anything not a packet at all
}
