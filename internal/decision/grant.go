package decision

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The watchdog contract (docs/architecture.md, "The watchdog contract"):
// an agent feeds its host's hardware watchdog only while it holds a fresh
// grant from the leader, counted from the moment it sent the report that
// earned it. Only the armed watchdog of the host's newest agent process
// counts, and the leader, not the host, decides which that is (Ticket). A peer answering feeds nothing. The leader counts a silent host
// as self-fenced only once the safe time has passed since the last grant it
// issued to that host (or since it became leader, for grants a predecessor
// may have issued), so the watchdog has surely reset the host by then.

// Grant is the leader's permission for one agent process of a host to keep
// feeding its watchdog for another isolation timeout, counted by the agent
// from when it sent the report the grant answers.
type Grant struct {
	Host, BootID string
	Agent        string // the agent process it answers (SelfReport.Agent)
	Seq          uint64 // the report it answers (SelfReport.Seq): the agent counts the grant from when it sent it
	Token        uint64 // the term's fencing token
	// Ticket, once set, is the agent process's ticket (see Ticket): the
	// agent puts it in every later message. Zero until the record naming
	// it is written.
	Ticket Ticket
	// Guests: the host may start guests. False while an incident holds a
	// fence of the host (vigil may be starting its instances elsewhere,
	// and a new boot must not resume them first), and until vigil has
	// placed this agent process after every other one it heard of and
	// written down what it believes of its watchdog; the guest start gate
	// waits.
	Guests bool
	// IsolationTimeout and WatchdogTimeout are the leader's own
	// (Config.IsolationTimeout, WatchdogTimeout: what its safe time is
	// computed from; 0 when not configured). The agent holds the grant no
	// longer than IsolationTimeout from its report's send time, and sets
	// its device no longer than WatchdogTimeout, whatever its own
	// configuration says: a successor may restore a record that counts a
	// predecessor's watchdog while this process, placed by a leader that
	// could not write that down, feeds on (docs/architecture.md, "The
	// device itself"; scenarios/watchdog-zombie-grants-longer-isolation-successor.yaml).
	IsolationTimeout, WatchdogTimeout time.Duration
}

// Ticket orders a host's agent processes without trusting anything the
// host keeps: the leader issues one to an agent process it cannot place,
// writes it down, and only then hands it out. An agent that puts the
// host's current ticket in a message is later than every agent process
// that held an earlier one, whatever its clock or its disk say, because it
// was alive after the leader issued the ticket, and every earlier holder
// had asked for its own before that (docs/architecture.md, "Ordering boots
// and agent restarts"). Term is the fencing token of the leader that issued
// it, N that leader's count: no two tickets are alike, even if a host's
// record is lost.
type Ticket struct {
	Term uint64 `json:"term"`
	N    uint64 `json:"n"`
}

// IsZero reports whether t is no ticket.
func (t Ticket) IsZero() bool { return t == Ticket{} }

func (t Ticket) String() string { return fmt.Sprintf("%d.%d", t.Term, t.N) }

// Before reports whether t was issued before u. Terms are fencing tokens,
// which only grow over the store's life (a store restored from a snapshot
// must keep them growing: docs/architecture.md), and N counts within a term.
func (t Ticket) Before(u Ticket) bool {
	return t.Term < u.Term || t.Term == u.Term && t.N < u.N
}

// Errors Grant returns when it refuses.
var (
	// ErrNotLeader: only the leader grants, and only while it leads.
	ErrNotLeader = errors.New("decision: not the leader: no grant")
	// ErrBootFenced: vigil already counts this boot of the host as fenced by
	// its watchdog; it must not be kept alive, and its answering is an alarm.
	ErrBootFenced = errors.New("decision: this boot is counted as self-fenced: no grant")
	// ErrStale: the message comes from an agent process that ended before
	// the ticket holder began (isStale); a grant would feed nobody, and
	// must not move the safe time of the host's self-fence.
	ErrStale = errors.New("decision: a message of an ended agent process: no grant")
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
	if h.isStale(r.Self.BootID, r.Self.Agent, r.Self.Ticket) {
		return Grant{}, ErrStale
	}
	if f := e.selfFence(h); f != nil && f.refuses(r.Self.BootID) {
		e.alert(h, "fenced-boot-answers", "the boot "+r.Self.BootID+" of "+h.Name+" that vigil counted as reset by its watchdog asked for a grant: refused; if its guests still run, two copies may be writing: check "+h.Name+" now")
		return Grant{}, ErrBootFenced
	}
	h.grantAt = now
	s := r.Self
	before := h.watchdogState()
	// A report that says Stopping is numbered after its process's notice
	// and never arms: it moves neither the belief nor the sequence number
	// a notice (or its retry, after a lost ack) must be newer than.
	pl := e.place(h, s.BootID, s.Agent, s.Ticket, s.WatchdogArmed)
	if s.Stopping {
		// Only a process that sent its stop notice says Stopping: it
		// is on the stop list from now on, so that no report it sent
		// before the notice, arriving late, arms it again (a leader
		// restored from a snapshot older than the stop never took the
		// notice, and the Stopping report echoes its ticket).
		h.stopped(s.BootID, s.Agent)
	}
	if pl == holder && s.Seq >= h.grantSeq && !s.Stopping {
		// The newest agent process's newest word. One sent before a
		// message already heard (a stop notice, say) arrived late: it
		// moves the grant, not what the watchdog is.
		h.grantSeq = s.Seq
		// A stopped holder's reports (sent while it waits for the ack,
		// which disarms it) never arm it again.
		h.grantArmed = h.echoed && e.watchdogCounts(h, s) && !h.hasStopped(s.BootID, s.Agent)
		if h.grantArmed {
			h.armedIso, h.armedWd = s.IsolationTimeout, s.WatchdogTimeout // the record keeps what it was counted with
		}
	}
	if h.watchdogState() != before {
		// A successor must know what this leader knows of the watchdog,
		// and until the record is written a successor may still believe
		// an ended boot armed: no guest starts until it is.
		e.persistWatchdog(h)
	}
	g := Grant{Host: h.Name, BootID: s.BootID, Agent: s.Agent, Seq: s.Seq, Token: e.token,
		IsolationTimeout: e.cfg.IsolationTimeout, WatchdogTimeout: e.cfg.WatchdogTimeout}
	isHolder := h.isHolder(s.BootID, s.Agent)
	if isHolder && h.ticket == h.savedState.ticket {
		g.Ticket = h.ticket
	}
	g.Guests = (h.inc == nil || h.inc.fence == nil) && h.guestsSafe(s, e.watchdogCounts(h, s))
	h.lastGuests = g.Guests
	return g, nil
}

// guestsSafe reports whether the agent process of s may start guests as
// far as the watchdog is concerned: a successor could restore only what
// the last written record says, or a later record in flight, and none may
// count a watchdog that does not run. So the written record must place
// this process (its ticket, or for an agent that names no process, its
// boot with no watchdog counted) and count no watchdog unless this
// process's own report says its watchdog runs. Records in flight since
// then only follow this process's own reports (a placement of another
// process changes the ticket, and waits for its write): none counts more
// than its reports. Its echo is not needed: a record of a holder that has
// not echoed counts no watchdog at all.
func (h *host) guestsSafe(s SelfReport, counts bool) bool {
	w := h.savedState
	if s.Agent == "" {
		return h.tAgent == "" && w == h.watchdogState() && w.boot == s.BootID && w.agent == "" && !w.armed
	}
	return h.isHolder(s.BootID, s.Agent) && w.ticket == h.ticket && w.agent == s.Agent && w.boot == s.BootID && (!w.armed || counts)
}

// timeoutsOK reports whether an agent's isolation and watchdog timeouts are
// within what the safe time assumes (0 in Config: not checked).
func (e *Engine) timeoutsOK(iso, wd time.Duration) bool {
	ci, cw := e.cfg.IsolationTimeout, e.cfg.WatchdogTimeout
	return (ci == 0 || iso > 0 && iso <= ci) && (cw == 0 || wd > 0 && wd <= cw)
}

// watchdogCounts reports whether the watchdog s says is armed may count as
// a fence: its timeouts are no longer than the ones the safe time was
// computed from (a device that rounds 30 s up to 60 s, an agent configured
// apart from the controllers, would reset the host after vigil had started
// its guests elsewhere). An armed watchdog that may not count is alerted.
func (e *Engine) watchdogCounts(h *host, s SelfReport) bool {
	if !s.WatchdogArmed || s.Stopping {
		return false // a stopping process disarms on its ack
	}
	iso, wd := e.cfg.IsolationTimeout, e.cfg.WatchdogTimeout
	if e.timeoutsOK(s.IsolationTimeout, s.WatchdogTimeout) {
		return true
	}
	say := func(d time.Duration) string {
		if d == 0 {
			return "none"
		}
		return d.String()
	}
	e.alert(h, "watchdog-timeout", fmt.Sprintf("the agent on %s feeds a watchdog with isolation timeout %s and watchdog timeout %s, but vigil's safe time assumes at most %v and %v: its reset could come after vigil starts its guests elsewhere, so vigil never counts it as a fence; give the agent self_fence.isolation_timeout and watchdog_timeout no longer than the controllers' (a device that cannot do %v needs a longer watchdog_timeout everywhere)", h.Name, say(s.IsolationTimeout), say(s.WatchdogTimeout), iso, wd, wd))
	return false
}

// heard is what place made of a message.
type heard int

const (
	holder heard = iota // from the agent process that holds the ticket
	stale               // from an agent process provably older than it
	issued              // from one that could not be placed: ticket issued
)

// place puts a message of agent process agent, on boot boot, carrying
// ticket t, in order with what vigil heard of h's agent processes
// (grant.go's Ticket). A message it cannot place makes its sender the
// holder of a new ticket, and until that agent process echoes it no
// watchdog of h counts: the sender may be the running one, with no
// watchdog, or a late message of an ended one.
func (e *Engine) place(h *host, boot, agent string, t Ticket, armed bool) heard {
	switch {
	case h.isHolder(boot, agent):
		if t == h.ticket && !t.IsZero() {
			h.echoed = true
			h.echoedBoot = boot
		}
		return holder
	case h.isStale(boot, agent, t):
		return stale
	}
	if agent == "" && armed {
		e.alert(h, "watchdog-unidentified", "the agent on "+h.Name+" feeds a watchdog but names no agent process: vigil cannot order its messages against other boots' and never counts that watchdog as a fence; upgrade the agent")
	}
	e.flap(h, boot, agent)
	e.ticketN++
	h.ticket, h.tAgent, h.grantBoot, h.echoed, h.grantArmed, h.grantSeq = Ticket{Term: e.token, N: e.ticketN}, agent, boot, false, false, 0
	if agent == "" {
		h.ticket = Ticket{} // nobody to echo it: no watchdog counts until an agent that names itself reports
	}
	return issued
}

// isHolder reports whether agent process agent on boot holds h's ticket. The
// boot is part of the name: an agent that names itself the same on every
// boot must not pass its new boot off as the old one's process.
func (h *host) isHolder(boot, agent string) bool {
	return agent != "" && agent == h.tAgent && boot == h.grantBoot
}

// isStale reports whether a message of agent process agent on boot carrying
// ticket t provably comes from a process that ended before the holder
// began: t was issued before the holder's ticket, and the holder echoed its
// own, so it was alive after both were issued (and one agent process runs on
// a host at a time; a live process that finds itself refused as stale, one
// that overlapped its successor for a moment, drops its ticket and is placed
// anew: agent.Contract). A ticket vigil has no record of (a store restored
// from an older snapshot), or the holder's own ticket in another process's
// message (inherited), proves nothing: such a message is placed anew.
func (h *host) isStale(boot, agent string, t Ticket) bool {
	return !h.isHolder(boot, agent) && h.echoed && !t.IsZero() && t.Before(h.ticket)
}

// flapsAfter is how many placements in a row, each replacing a holder
// that had not echoed its ticket, make vigil say that several agent
// processes run.
const flapsAfter = 6

// flap notes a placement of agent on boot. Processes that report in turn
// (two, three, an old agent that names none) each take the ticket before
// the last could echo it: none is ever stale, none placed, and the host's
// guests are held for good. A single process is placed, echoes, and resets
// the count; vigil says so when it does not.
func (e *Engine) flap(h *host, boot, agent string) {
	me, was := agent+"@"+boot, h.tAgent+"@"+h.grantBoot
	switch {
	case boot != h.grantBoot || me == was || h.echoed:
		h.flaps = 0
	default:
		h.flaps++
	}
	if h.flaps == flapsAfter {
		delete(h.alerted, "agent-duplicate")
		e.alert(h, "agent-duplicate", fmt.Sprintf("%s runs several agent processes on boot %s (%q and %q among them): they take vigil's ticket from each other in turn, so none is placed, no watchdog of the host counts and its guests may not start: stop all but one (only one vigil agent may run on a host)", h.Name, boot, agent, h.tAgent))
	}
}

// staleAfter is how many stale messages of one agent process, each newer
// than the last, make vigil say that it still runs: late replays of an
// ended process come out of order, or a few at a time.
const staleAfter = 5

// staleMessage notes a stale message. A process that keeps sending new ones
// is alive: a second agent runs on the host (a package beside a container,
// a restart that did not stop the old one), and vigil ignores it.
func (e *Engine) staleMessage(h *host, s SelfReport) {
	if s.Agent != h.staleAgent || s.Seq <= h.staleSeq {
		h.staleAgent, h.staleN = s.Agent, 0
	}
	h.staleSeq = s.Seq
	if h.staleN++; h.staleN == staleAfter {
		delete(h.alerted, "agent-duplicate")
		e.alert(h, "agent-duplicate", fmt.Sprintf("%s runs two agent processes: %s (boot %s) keeps reporting with a ticket older than that of %s (boot %s), which vigil follows; vigil ignores %s, whose watchdog it never counts: stop it (only one vigil agent may run on a host)", h.Name, s.Agent, s.BootID, h.tAgent, h.grantBoot, s.Agent))
	}
}

// selfFence returns h's fence when it is one that assumes the boot it names
// is dead (its watchdog reset it, or an operator said it is off).
func (e *Engine) selfFence(h *host) *Fence {
	if h.inc == nil || h.inc.fence == nil || h.inc.fence.BootID == "" && len(h.inc.fence.Refuse) == 0 {
		return nil
	}
	if !JudgedFence(h.inc.fence.Method) {
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
	if f := e.selfFence(h); f != nil && f.refuses(m.BootID) && !h.isStale(m.BootID, m.Agent, m.Ticket) {
		// Like a grant, a disarm would keep alive a boot whose instances
		// vigil may be starting elsewhere: its watchdog must reset it.
		e.alert(h, "fenced-boot-answers", "the boot "+m.BootID+" of "+h.Name+" that vigil counted as reset asked to stop its agent: refused, its watchdog stays armed; if its guests still run, two copies may be writing: check "+h.Name+" now")
		return
	}
	switch e.place(h, m.BootID, m.Agent, m.Ticket, true) {
	case stale:
		return // an ended agent process's: nobody waits for the ack
	case holder:
		if m.Seq < h.grantSeq {
			return // older than a report that armed it again: not the last word
		}
	}
	// The stopping process holds the ticket now, with no watchdog vigil
	// counts: persisted even if vigil never believed it armed, since a
	// report sent before the notice may still arrive, at a successor too,
	// and must find the disarm and its sequence number there. Any process
	// placed after it later is later than it, so its disarm is safe.
	h.grantArmed, h.grantSeq = false, m.Seq
	h.stopped(m.BootID, m.Agent)
	e.persistWatchdog(h)
	a := Ack{Host: h.Name, BootID: m.BootID, Agent: m.Agent, Seq: m.Seq}
	h.unsavedAck, h.ackOut = &a, true
	e.out.Acks = append(e.out.Acks, a)
}

// rewriteAfter is how long a record of what vigil believes of a host's
// watchdog may go unconfirmed before it is sent again: a controller confirms
// a write within one loop, so it failed.
const rewriteAfter = time.Second

// rewrite sends h's record again after its write failed, with the ack of
// the clean stop it disarms, if any: the controller dropped that ack with
// the write, and the stopping agent waits for it.
func (e *Engine) rewrite(h *host) {
	h.ackOut = false
	e.persistWatchdog(h)
}

// persistWatchdog writes h's record after a change of what vigil believes
// of its watchdog; grants start no guests until Persisted confirms it.
func (e *Engine) persistWatchdog(h *host) {
	e.persist(h)
	switch {
	case h.watchdogUnsaved == unsavedNone:
		h.unsavedAck = nil // a new change: no earlier stop waits on this record
	case h.unsavedAck != nil && !h.ackOut:
		// A stop's disarm not confirmed written, its ack maybe dropped
		// with a failed write: it rides with this record, which says
		// no more of the stopped process's watchdog than that one did.
		e.out.Acks = append(e.out.Acks, *h.unsavedAck)
		h.ackOut = true
	}
	h.watchdogUnsaved = unsavedChanged
}

// watchdogState is what a successor must know of the host's watchdog. Not
// whether the holder echoed its ticket: the record says so when written for
// another reason, but a successor that does not know it only waits for the
// next echo (the ticket itself was written before it was handed out).
type watchdogState struct {
	boot, agent string
	ticket      Ticket
	armed       bool
	stopped     string // h.stoppedProcs, joined
	iso, wd     time.Duration
}

func (h *host) watchdogState() watchdogState {
	return watchdogState{h.grantBoot, h.tAgent, h.ticket, h.grantArmed, strings.Join(h.stoppedProcs, " "), h.armedIso, h.armedWd}
}

// stoppedKept bounds how many stopped agent processes a host's record
// remembers: a process stops once, and a boot runs a few.
const stoppedKept = 8

// stopped remembers that agent process agent on boot stopped cleanly: its
// watchdog is disarmed by the ack, and none of its reports, whatever
// ticket they come with, ever counts it armed again.
func (h *host) stopped(boot, agent string) {
	if agent == "" || h.hasStopped(boot, agent) {
		return
	}
	h.stoppedProcs = append(h.stoppedProcs, agent+"@"+boot)
	if len(h.stoppedProcs) > stoppedKept {
		h.stoppedProcs = h.stoppedProcs[len(h.stoppedProcs)-stoppedKept:]
	}
}

func (h *host) hasStopped(boot, agent string) bool {
	return agent != "" && slices.Contains(h.stoppedProcs, agent+"@"+boot)
}

// whyNoWatchdog says, for an alert, why vigil will not count h's watchdog as
// its fence when self-fencing is on; "" when it will, or self-fencing is off.
func (e *Engine) whyNoWatchdog(h *host) string {
	switch {
	case e.cfg.SelfFenceAfter == 0 || h.grantArmed:
		return ""
	case h.tAgent != "" && !h.echoed:
		return fmt.Sprintf(" and its watchdog is not counted as a fence: the last agent process vigil heard (%s on boot %s) fell silent before it confirmed the ticket vigil issued it, so vigil cannot tell it from an older process's late message", h.tAgent, h.grantBoot)
	case h.tAgent == "" && h.grantBoot != "":
		return " and its watchdog is not counted as a fence: its agent names no agent process (upgrade the agent)"
	default:
		return " and its watchdog is not counted as a fence: its agent last reported no armed watchdog"
	}
}

// armedBoot is the boot whose armed watchdog vigil may count on, or "".
func (h *host) armedBoot() string {
	if h.grantArmed {
		return h.grantBoot
	}
	return ""
}
