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
	before := h.watchdogState()
	h.grantAt = now
	id, no := r.Self.BootID, r.Self.Boot
	switch {
	case id == h.grantBoot && h.maxBootID == "" && no > 0:
		// A record from before boot numbers named this boot: its own
		// numbered report places it.
		h.maxBootNo, h.maxBootID = no, id
		h.grantArmed, h.grantSeq = r.Self.WatchdogArmed, max(h.grantSeq, r.Self.Seq)
	case id != h.grantBoot && no > h.maxBootNo:
		// A boot newer than every boot heard: the running one.
		h.maxBootNo, h.maxBootID, h.unordered = no, id, false
		h.grantBoot, h.grantArmed, h.grantSeq = id, r.Self.WatchdogArmed, r.Self.Seq
	case id != h.grantBoot:
		// Unnumbered, numbered like a boot already heard, or lower: it
		// cannot be placed for sure (a late message of an ended boot, or a
		// running boot whose counter was lost). vigil counts no watchdog of
		// the host until a boot numbered above all reports.
		h.grantArmed, h.unordered = false, true
		if !r.Self.WatchdogArmed && e.cfg.SelfFenceAfter > 0 {
			// Nor may it start guests without a watchdog: a boot never
			// heard, numbered higher, could later be placed over it.
			guests = false
		}
	case h.countedBack(id, no):
		// The running boot's counter went back: its sequence numbers did
		// too, and nothing it says can be ordered against what was heard.
	case r.Self.Seq < h.grantSeq:
		// Sent before a message already heard (a stop notice, say), it
		// arrived late: it moves the grant, not what the watchdog is.
	default:
		h.grantArmed, h.grantSeq = r.Self.WatchdogArmed, r.Self.Seq
	}
	if h.grantArmed && (no == 0 || h.unordered || h.grantBoot != h.maxBootID) {
		h.grantArmed = false // only the newest numbered boot's watchdog counts
	}
	if h.watchdogState() != before {
		// A successor must know what this leader knows of the watchdog,
		// and until the record is written a successor may still believe
		// an ended boot armed: this grant lets no guest start (the next
		// one, after the write, does).
		e.persistWatchdog(h)
	}
	if h.watchdogUnsaved != unsavedNone {
		guests = false
	}
	h.lastGuests = guests
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
	id, no := m.BootID, m.Boot
	switch {
	case id == h.grantBoot && h.countedBack(id, no):
		// The agent lost its counter (and its sequence numbers) on the
		// running boot: its messages cannot be ordered against what vigil
		// heard. No ack: the agent leaves its watchdog running, which is
		// what vigil believes.
		e.checkBootNo(h, id, no, true)
		return
	case id == h.grantBoot && m.Seq < h.grantSeq:
		return // older than a report that armed it again: not the last word
	case id == h.grantBoot:
		h.grantArmed, h.grantSeq = false, m.Seq
	case no > h.maxBootNo:
		h.maxBootNo, h.maxBootID, h.unordered = no, id, false
		h.grantBoot, h.grantArmed, h.grantSeq = id, false, m.Seq
	default:
		// A boot that cannot be placed for sure: vigil stops counting any
		// watchdog of the host (as for its reports), but acknowledges no
		// stop of it: a boot never heard, numbered higher, could later be
		// placed over it, and this one must then reset, not run on
		// disarmed.
		e.checkBootNo(h, id, no, false)
		if h.grantArmed || !h.unordered {
			h.grantArmed, h.unordered = false, true
			e.persistWatchdog(h)
		}
		if e.cfg.SelfFenceAfter > 0 {
			return // no ack: see above
		}
		// Without self-fencing no watchdog ever counts as a fence: the
		// stop may be acknowledged once its record is written.
		e.out.Acks = append(e.out.Acks, Ack{Host: h.Name, BootID: m.BootID, Seq: m.Seq})
		return
	}
	// Persisted even if vigil never believed it armed: a report sent before
	// the notice may still arrive, at a successor too, and must find the
	// disarm and its sequence number there.
	e.persistWatchdog(h)
	e.out.Acks = append(e.out.Acks, Ack{Host: h.Name, BootID: m.BootID, Seq: m.Seq})
}

// persistWatchdog writes h's record after a change of what vigil believes
// of its watchdog; grants start no guests until Persisted confirms it.
func (e *Engine) persistWatchdog(h *host) {
	e.persist(h)
	h.watchdogUnsaved = unsavedChanged
}

// countedBack: a message of boot id numbered below what that same boot said
// before: the agent's state was wiped while the host ran.
func (h *host) countedBack(id string, no uint64) bool {
	return id == h.maxBootID && no != 0 && no < h.maxBootNo
}

// watchdogState is what a successor must know of the host's watchdog.
type watchdogState struct {
	boot      string
	armed     bool
	maxNo     uint64
	maxID     string
	unordered bool
}

func (h *host) watchdogState() watchdogState {
	return watchdogState{h.grantBoot, h.grantArmed, h.maxBootNo, h.maxBootID, h.unordered}
}

// checkBootNo alerts on an agent whose watchdog vigil cannot count on for
// want of boot numbers, or whose boot numbers cannot be trusted.
func (e *Engine) checkBootNo(h *host, id string, no uint64, armed bool) {
	if no == 0 && armed {
		e.alert(h, "watchdog-unnumbered", "the agent on "+h.Name+" feeds a watchdog but does not number its boots: vigil never counts that watchdog as a fence (an ended boot's late message could not be told from the running one's); upgrade the agent")
	}
	if h.countedBack(id, no) {
		e.alert(h, "boot-counter-reset", fmt.Sprintf("the agent on %s counts its running boot %s as boot %d, vigil heard it as boot %d: its state directory was wiped; vigil keeps what it believed of the watchdog and acknowledges no clean stop of this boot, so stopping the agent leaves the watchdog running and resets the host; reboot %s to start counting afresh", h.Name, id, no, h.maxBootNo, h.Name))
	}
	if id != h.maxBootID && h.maxBootNo != 0 && no <= h.maxBootNo {
		e.alert(h, "boot-unordered", fmt.Sprintf("a message of %s's boot %s (numbered %d) cannot be placed after boot %s (%d): a late message of an ended boot, an agent that does not number boots, or a boot counter lost (host reinstalled, power lost before the counter was written); vigil does not count %s's watchdog as a fence until a boot numbered above %d reports (each boot adds one); with self-fencing on, a clean agent stop of this boot is not acknowledged, so it resets the host, and without an armed watchdog its guests are held", h.Name, id, no, h.maxBootID, h.maxBootNo, h.Name, h.maxBootNo))
	}
}

// armedBoot is the boot whose armed watchdog vigil may count on, or "".
func (h *host) armedBoot() string {
	if h.grantArmed {
		return h.grantBoot
	}
	return ""
}
