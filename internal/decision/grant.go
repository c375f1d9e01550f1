package decision

import (
	"errors"
	"fmt"
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
	e.checkBootNo(h, r.Self.BootID, r.Self.Boot, r.Self.WatchdogArmed)
	guests := h.inc == nil || h.inc.fence == nil
	if h.olderBoot(r.Self.BootID, r.Self.Boot) {
		// A late message of a boot that ended: the grant time moves (that
		// only postpones a conclusion), nothing of the watchdog does. (If
		// it is a reinstalled host counting afresh, it may run guests as
		// any host may; only its watchdog is not counted on.)
		h.grantAt = now
		return Grant{Host: h.Name, BootID: r.Self.BootID, Token: e.token, Guests: guests}, nil
	}
	// Only a numbered boot's watchdog counts: without numbers an ended
	// boot's late report cannot be told from the running one's.
	armed := r.Self.WatchdogArmed && r.Self.Boot != 0
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
	h.setBootNo(r.Self.BootID, r.Self.Boot)
	h.grantAt, h.grantBoot, h.grantArmed = now, r.Self.BootID, armed
	if h.armedBoot() != was {
		e.persist(h) // a successor must know what this leader knows of the watchdog
	}
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
	if h.sameBootCountedBack(m.BootID, m.Boot) {
		// The agent lost its counter (and its sequence numbers) on the
		// running boot: its messages cannot be ordered against what vigil
		// heard. No ack: the agent leaves its watchdog running, which is
		// what vigil believes.
		e.checkBootNo(h, m.BootID, m.Boot, true)
		return
	}
	if h.olderBoot(m.BootID, m.Boot) {
		// A boot that ended, or one vigil never counts on: acknowledging
		// it changes nothing vigil believes.
		e.out.Acks = append(e.out.Acks, Ack{Host: h.Name, BootID: m.BootID, Seq: m.Seq})
		return
	}
	if m.BootID == h.grantBoot && m.Seq < h.grantSeq {
		return // older than a report that armed it again: not the last word
	}
	h.setBootNo(m.BootID, m.Boot)
	h.grantBoot, h.grantArmed, h.grantSeq, h.grantStopped = m.BootID, false, m.Seq, true
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
func (h *host) olderBoot(id string, boot uint64) bool {
	if id == h.grantBoot {
		return false // the boot id is the truth; the number only orders boots
	}
	// An unnumbered boot cannot be ordered: it is taken as the running one,
	// whose watchdog vigil does not count, which drops an armed belief.
	return boot != 0 && h.grantBootNo != 0 && boot < h.grantBootNo
}

// sameBootCountedBack: a message of the boot vigil last heard, numbered lower
// than before: the agent's state was wiped while the host ran.
func (h *host) sameBootCountedBack(id string, boot uint64) bool {
	return id == h.grantBoot && boot != 0 && h.grantBootNo != 0 && boot < h.grantBootNo
}

// setBootNo records the number of the boot id a message that moves vigil's
// belief came from. A new boot without a number is still later than the one
// before it: its number becomes one more, so the ended boot stays older.
func (h *host) setBootNo(id string, boot uint64) {
	switch {
	case boot > h.grantBootNo:
		h.grantBootNo = boot
	case boot == 0 && id != h.grantBoot && h.grantBootNo != 0:
		h.grantBootNo++
	}
}

// checkBootNo alerts on an agent whose watchdog vigil cannot count on for
// want of boot numbers, or whose counter went back.
func (e *Engine) checkBootNo(h *host, id string, boot uint64, armed bool) {
	switch {
	case boot == 0 && armed:
		e.alert(h, "watchdog-unnumbered", "the agent on "+h.Name+" feeds a watchdog but does not number its boots: vigil never counts that watchdog as a fence (an ended boot's late message could not be told from the running one's); upgrade the agent")
	case h.sameBootCountedBack(id, boot):
		e.alert(h, "boot-counter-reset", fmt.Sprintf("the agent on %s counts its running boot %s as boot %d, vigil heard it as boot %d: its state directory was wiped; vigil keeps what it believed of the watchdog and acknowledges no clean stop of this boot, so stopping the agent leaves the watchdog running and resets the host; reboot %s to start counting afresh", h.Name, id, boot, h.grantBootNo, h.Name))
	case id != h.grantBoot && boot != 0 && h.olderBoot(id, boot):
		e.alert(h, "boot-counter-back", fmt.Sprintf("a message of %s's boot %s numbered %d, below boot %d already heard: a late message of an ended boot, or the agent's state was wiped (host reinstalled); if %s keeps answering from it, vigil does not count its watchdog as a fence until its boot count passes %d (each boot adds one)", h.Name, id, boot, h.grantBootNo, h.Name, h.grantBootNo))
	}
}

// armedBoot is the boot whose armed watchdog vigil may count on, or "".
func (h *host) armedBoot() string {
	if h.grantArmed {
		return h.grantBoot
	}
	return ""
}
