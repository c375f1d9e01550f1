package decision

import (
	"errors"
	"time"
)

// The watchdog contract (docs/architecture.md, "The watchdog contract"):
// an agent feeds its host's hardware watchdog only while it holds a fresh
// grant from the leader, counted from the moment it sent the report that
// earned it. A peer answering feeds nothing. The leader counts a silent host
// as self-fenced only once the safe time has passed since the last grant it
// issued to that host (or since it became leader, for grants a predecessor
// may have issued), so the watchdog has surely reset the host by then.

// Grant is the leader's permission for one boot of a host's agent to keep
// feeding its watchdog for another isolation timeout, counted by the agent
// from when it sent the report the grant answers.
type Grant struct {
	Host, BootID string
	Token        uint64 // the term's fencing token
	// Guests: the host may start guests. False while an incident holds a
	// fence of the host: vigil may be starting its instances elsewhere, and
	// a new boot must not resume them first; the guest start gate waits.
	Guests bool
}

// Errors Grant returns when it refuses.
var (
	// ErrNotLeader: only the leader grants, and only while it leads.
	ErrNotLeader = errors.New("decision: not the leader: no grant")
	// ErrBootFenced: vigil already counts this boot of the host as fenced by
	// its watchdog; it must not be kept alive, and its answering is an alarm.
	ErrBootFenced = errors.New("decision: this boot is counted as self-fenced: no grant")
)

// Grant decides whether the agent whose report r was just stepped may keep
// feeding its watchdog, and records the grant: the safe time for a
// self-fence of r.Host counts from now. Call it after Step(now, r), for
// relayed reports too.
func (e *Engine) Grant(now time.Time, r AgentReport) (Grant, error) {
	h := e.hosts[r.Host]
	if !e.leader || h == nil {
		return Grant{}, ErrNotLeader
	}
	if f := e.selfFence(h); f != nil && f.BootID == r.Self.BootID {
		e.alert(h, "fenced-boot-answers", "the boot "+r.Self.BootID+" of "+h.Name+" that vigil counted as reset by its watchdog asked for a grant: refused; if its guests still run, two copies may be writing: check "+h.Name+" now")
		return Grant{}, ErrBootFenced
	}
	if h.olderBoot(r.Self.Boot) {
		// A late message of a boot that ended: the grant time moves (that
		// only postpones a conclusion), nothing of the watchdog does.
		h.grantAt = now
		return Grant{Host: h.Name, BootID: r.Self.BootID, Token: e.token, Guests: false}, nil
	}
	armed := r.Self.WatchdogArmed
	if r.Self.BootID == h.grantBoot && r.Self.Seq < h.grantSeq {
		// Sent before a message already heard (a stop notice, say), it
		// arrived late: it moves the grant, not what the watchdog is.
		armed = h.grantArmed
	}
	was := h.armedBoot()
	if h.grantBoot != r.Self.BootID || h.grantArmed != armed || r.Self.Seq > h.grantSeq {
		h.grantSeq = r.Self.Seq
	}
	if h.grantBoot != r.Self.BootID || armed {
		h.grantStopped = false
	}
	h.grantAt, h.grantBoot, h.grantArmed = now, r.Self.BootID, armed
	if r.Self.Boot != 0 {
		h.grantBootNo = r.Self.Boot
	}
	if h.armedBoot() != was {
		e.persist(h) // a successor must know what this leader knows of the watchdog
	}
	guests := h.inc == nil || h.inc.fence == nil
	return Grant{Host: h.Name, BootID: r.Self.BootID, Token: e.token, Guests: guests}, nil
}

// selfFence returns h's fence when it is one that assumes the boot it names
// is dead (its watchdog reset it, or an operator said it is off).
func (e *Engine) selfFence(h *host) *Fence {
	if h.inc == nil || h.inc.fence == nil || h.inc.fence.BootID == "" {
		return nil
	}
	if m := h.inc.fence.Method; m != "watchdog" && m != "operator" {
		return nil
	}
	return h.inc.fence
}

// selfFenceFrom is when the safe time of a self-fence of h starts: the last
// grant this leader issued to h, and never before this leader could have
// issued any (a predecessor stopped granting before its lease ran out, and
// this leader won the election only after that).
func (e *Engine) selfFenceFrom(h *host) time.Time {
	if h.grantAt.After(e.leaderSince) {
		return h.grantAt
	}
	return e.leaderSince
}

// stopping handles an agent's clean-stop notice: the watchdog no longer
// counts as a fence of that boot, the disarm is persisted, and the Ack goes
// out with the records that carry it.
func (e *Engine) stopping(m AgentStopping) {
	h := e.hosts[m.Host]
	if h == nil || !e.leader {
		return // no ack: the agent keeps its watchdog running
	}
	if h.olderBoot(m.Boot) {
		// A boot that ended, or one vigil never counts on: acknowledging
		// it changes nothing vigil believes.
		e.out.Acks = append(e.out.Acks, Ack{Host: h.Name, BootID: m.BootID, Seq: m.Seq})
		return
	}
	if m.BootID == h.grantBoot && m.Seq < h.grantSeq {
		return // older than a report that armed it again: not the last word
	}
	h.grantBoot, h.grantArmed, h.grantSeq, h.grantStopped = m.BootID, false, m.Seq, true
	if m.Boot != 0 {
		h.grantBootNo = m.Boot
	}
	// Persisted even if vigil never believed it armed: a report sent before
	// the notice may still arrive, at a successor too, and must find the
	// disarm and its sequence number there.
	e.persist(h)
	e.out.Acks = append(e.out.Acks, Ack{Host: h.Name, BootID: m.BootID, Seq: m.Seq})
}

// olderBoot reports whether a message numbered boot comes from a boot
// before the one vigil last heard of h (both numbered): that boot has ended.
// (A host whose agent lost its boot counter is never counted on for its
// watchdog until its count passes the old one: safe, and it alerts nothing
// worse than a held host.)
func (h *host) olderBoot(boot uint64) bool {
	return boot != 0 && h.grantBootNo != 0 && boot < h.grantBootNo
}

// armedBoot is the boot whose armed watchdog vigil may count on, or "".
func (h *host) armedBoot() string {
	if h.grantArmed {
		return h.grantBoot
	}
	return ""
}
