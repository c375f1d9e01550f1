package decision

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Engine is vigil's per-cluster decision state machine. It is not safe for
// concurrent use; its owner serialises Step and Tick.
type Engine struct {
	cfg    Config
	netIdx map[string]int

	hosts map[string]*host
	order []string // sorted names, for deterministic output

	leader      bool
	leaderSince time.Time
	token       uint64 // fencing token of the current term, carried by grants
	ticketN     uint64 // tickets issued in this term (grant.go, Ticket)

	storageReadAt time.Time // last successful storage heartbeat read
	paused        *SetPause // an operator's pause in force, nil when none
	pausedAt      time.Time
	frozen        bool // observer self-doubt in force
	frozenWhy     string
	doubtRef      time.Time         // while frozen: hosts dark since before this are not part of the event
	rearmUntil    time.Time         // after a thaw, hosts are re-armed like after a failover
	assessed      []assessment      // scratch for Tick, reused
	counts        counts            // cluster-wide tallies for the rules, once per Tick
	unresolved    map[string]string // instance → host whose incident closed before its move finished
	healthyAt     time.Time         // last time a host turned healthy: capacity may be back
	// watch is where Nova last placed each instance an open incident counts
	// as moved, so the incident can check it runs on a healthy host. Only
	// those instances are recorded: Nova's reads of other instances cost a
	// map lookup.
	watch map[string]placement

	out      Ready
	readySeq uint64    // the last Ready.Seq
	tickAt   time.Time // the last Tick's time: Status's evidence is as of then
	// listenedSince is when the loop last resumed after not running for
	// half an agent timeout (zero: it never stalled).
	listenedSince time.Time
}

// New returns an engine for cfg, which must be valid. It starts as a follower:
// it decides nothing until it is told it leads.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, netIdx: map[string]int{}, hosts: map[string]*host{}, unresolved: map[string]string{}, watch: map[string]placement{}}
	for i, n := range cfg.Networks {
		e.netIdx[n] = i
	}
	return e, nil
}

// AddHost registers a host. Adding a known host again updates its domain.
func (e *Engine) AddHost(info HostInfo) {
	if h, ok := e.hosts[info.Name]; ok {
		h.HostInfo = info
		return
	}
	n := len(e.cfg.Networks)
	e.hosts[info.Name] = &host{
		HostInfo: info, state: Unknown,
		agentAt: make([]time.Time, n), peerAt: make([]time.Time, n), peerBy: make([]string, n),
		writers: map[string]time.Time{}, writerSince: map[string]time.Time{}, listedAt: map[string]time.Time{}, alerted: map[string]bool{}, restartAt: map[string]time.Time{},
	}
	i := sort.SearchStrings(e.order, info.Name)
	e.order = append(e.order, "")
	copy(e.order[i+1:], e.order[i:])
	e.order[i] = info.Name
}

// Step records one input received at now.
func (e *Engine) Step(now time.Time, in Input) {
	switch m := in.(type) {
	case AgentReport:
		h, i, ok := e.hostNet(m.Host, m.Network)
		switch {
		case !ok:
		case h.isStale(m.Self.BootID, m.Self.Agent, m.Self.Ticket):
			// A message of an agent process that ended before the
			// holder began (delayed in a relay, say) says nothing of
			// the host now: not that it lives, nor what it runs.
			e.staleMessage(h, m.Self)
		default:
			h.agentAt[i] = now
			h.self = m.Self
			h.selfAt = now
			for _, d := range m.Self.Domains {
				h.listedAt[d] = now
			}
			h.heardBoot(m.Self.BootID, now)
		}
	case PeerReport:
		if h, i, ok := e.hostNet(m.Host, m.Network); ok && m.Reachable {
			h.peerAt[i] = now
			h.peerBy[i] = m.Observer
		}
	case StorageHeartbeats:
		if !m.OK {
			return
		}
		// After reads that failed for longer than a storage timeout, a
		// counter that changed may have been written at any time in that
		// gap (before its host lost power, say): like a first read, it
		// dates no move (heartbeatMoved), only the next change does.
		undated := !e.storageReadAt.IsZero() && now.Sub(e.storageReadAt) > e.cfg.StorageTimeout
		e.storageReadAt = now
		for name, c := range m.Counters {
			if h := e.hosts[name]; h != nil && (!h.storageSeen || c != h.storageCounter) {
				if !h.storageSeen || undated {
					h.storageFirst = now
				}
				h.storageCounter, h.storageMoved, h.storageSeen = c, now, true
			}
		}
		for name := range m.Counters {
			h := e.hosts[name]
			if h == nil {
				continue
			}
			b, ok := m.Boots[name]
			if !ok {
				// A record naming no boot proves nothing, nor does an
				// older one that did.
				h.storageBoot, h.storageBootSince = StorageBoot{}, time.Time{}
				continue
			}
			if b.BootID != h.storageBoot.BootID {
				h.storageBootSince = now
			}
			h.storageBoot = b
		}
	case BMCReading:
		if h := e.hosts[m.Host]; h != nil {
			at := now
			if !m.Asked.IsZero() && m.Asked.Before(now) {
				at = m.Asked
			}
			if at.Before(h.bmcAt) {
				break // an older read that answered late: the newer one stands
			}
			h.bmc, h.bmcAt = m.Power, at
		}
	case NovaService:
		if h := e.hosts[m.Host]; h != nil {
			h.nova, h.novaAt = m, now
			if len(e.watch) > 0 {
				for _, in := range m.Instances {
					if _, ok := e.watch[in]; ok {
						e.watch[in] = placement{host: m.Host, status: m.Status[in], at: now}
					}
				}
			}
		}
	case DiskWriters:
		for _, name := range m.Hosts {
			if h := e.hosts[name]; h != nil {
				if last := h.writers[m.Instance]; last.IsZero() || now.Sub(last) > writerGap {
					h.writerSince[m.Instance] = now
				}
				h.writers[m.Instance] = now
			}
		}
	case Persisted:
		for _, h := range e.hosts {
			switch {
			case h.watchdogUnsaved != unsavedWriting:
			case slices.Contains(h.unsavedReadies, m.Ready):
				// That Ready, or a rewrite of the same state (a slow
				// commit is not a failed one), is written.
				h.watchdogUnsaved, h.savedState, h.unsavedAck, h.unsavedReadies = unsavedNone, h.unsavedState, nil, h.unsavedReadies[:0]
			case h.unsavedIn < m.Ready:
				// Its Ready was never confirmed: that write failed.
				// Send the record again.
				e.rewrite(h)
			}
		}
	case SetMaintenance:
		if h := e.hosts[m.Host]; h != nil {
			h.maintenance = m.On
		}
	case SetPause:
		switch {
		case m.On && e.paused == nil:
			p := m
			e.paused, e.pausedAt = &p, now
			if !m.At.IsZero() {
				e.pausedAt = m.At
			}
		case !m.On:
			e.paused = nil
		}
	case Leadership:
		if m.Leader && !e.leader {
			e.leaderSince = now
			for _, h := range e.hosts {
				// The boot its record names, as if heard now: an
				// operator's confirm must refuse it even when the
				// first message this leader hears is a late one of
				// an older boot.
				h.heardBoot(h.grantBoot, now)
				h.heardBoot(h.recordBoot, now)
			}
		}
		e.leader, e.token = m.Leader, m.Token
	case UnfenceResult:
		e.unfenceResult(now, m)
	case RenewResult:
		e.renewResult(now, m)
	case Unwritten:
		e.unwritten(now, m)
	case AgentStopping:
		e.stopping(m)
	case FenceResult:
		e.fenceResult(now, m)
	case EvacuateResult:
		e.evacuateResult(now, m)
	case Confirm:
		e.confirm(now, m)
	case Rejoin:
		e.rejoinCommand(now, m)
	case Release:
		// Only a host the brake holds can be released, and only for its
		// current bad episode.
		if h := e.hosts[m.Host]; h != nil && h.state == Failed && h.rule == "brake" && h.inc == nil {
			h.released = true
		}
	}
}

func (e *Engine) hostNet(name, network string) (*host, int, bool) {
	h := e.hosts[name]
	i, ok := e.netIdx[network]
	return h, i, h != nil && ok
}

// Tick evaluates every host at now and returns what was decided since the
// last Tick. A follower decides nothing.
func (e *Engine) Tick(now time.Time) Ready {
	if gap := now.Sub(e.tickAt); e.leader && !e.tickAt.IsZero() && gap > e.cfg.AgentTimeout/2 {
		// The loop did not run for a while (the process stalled, its
		// machine starved it): every host's silence grew by the gap
		// without anyone listening, and what arrived meanwhile may be
		// lost. The fast path, which judges half an agent timeout of
		// silence, waits until this loop has listened for an agent
		// timeout again; the slower rules, whose dead_after is several
		// such gaps long, go on (re-arming them too would freeze a
		// leader that is starved again and again: attack34).
		e.listenedSince = now
	}
	e.tickAt = now
	if e.leader {
		// Judge every host first, so the cluster rules see every host that
		// went bad in this same instant, then act.
		if cap(e.assessed) < len(e.order) {
			e.assessed = make([]assessment, len(e.order))
		}
		e.assessed = e.assessed[:len(e.order)]
		e.counts.reset(now.Add(-e.cfg.BrakeWindow), e.doubtRefAt(now), e.leaderSince.Add(e.cfg.FailoverGrace))
		for i, name := range e.order {
			h := e.hosts[name]
			a := e.assess(h, now)
			e.assessed[i] = a
			e.episode(now, h, a)
			e.add(&e.counts, h, a, now)
		}
		e.doubt(now)
		for i, name := range e.order {
			e.tickHost(now, e.hosts[name], e.assessed[i])
		}
	}
	r := e.out
	e.out = Ready{}
	e.readySeq++
	r.Seq = e.readySeq
	for _, rec := range r.Records {
		if h := e.hosts[rec.Host]; h != nil && h.watchdogUnsaved == unsavedChanged {
			// written once Persisted confirms this Ready
			if st := h.watchdogState(); len(h.unsavedReadies) == 0 || st != h.unsavedState {
				h.unsavedReadies = h.unsavedReadies[:0] // a new state
			}
			// The Readies that carried this unchanged state: a
			// rewrite adds one, and a slow commit of any of them
			// confirms it.
			h.unsavedReadies = append(h.unsavedReadies, r.Seq)
			if len(h.unsavedReadies) > readiesKept {
				h.unsavedReadies = h.unsavedReadies[1:]
			}
			h.watchdogUnsaved, h.unsavedIn, h.unsavedState, h.unsavedAt, h.ackOut = unsavedWriting, r.Seq, h.watchdogState(), now, false
		}
	}
	return r
}

// episode keeps the onset of h's bad episode (suspect or worse). Only a host
// that evidence shows alive ends it: a new leader that has not heard from a
// host yet (unknown) keeps what it restored.
func (e *Engine) episode(now time.Time, h *host, a assessment) {
	bad := !h.maintenance && (a.state == Suspect || a.state == Failed)
	switch {
	case bad && h.badSince.IsZero():
		h.badSince = now
	case !bad && a.state != Unknown && !h.state.inIncident() && !h.badSince.IsZero():
		held := h.state == Failed && h.failedThisEpisode() && !h.maintenance
		h.badSince = time.Time{}
		h.released, h.braked = false, false
		h.answeredAt = time.Time{}
		if held {
			e.persist(h) // no longer held: the whole record, with any unfence still due
		}
	}
}

func (e *Engine) tickHost(now time.Time, h *host, a assessment) {
	e.renewFence(now, h) // in maintenance too: the incident's fences stay in force
	if h.watchdogUnsaved == unsavedWriting && now.Sub(h.unsavedAt) >= rewriteAfter {
		// Not confirmed: the write failed, and in a quiet cluster no
		// later Ready's confirmation would say so.
		e.rewrite(h)
	}
	e.retryUnfence(now, h)
	if h.maintenance {
		if h.state != Maintenance {
			e.enterMaintenance(now, h)
		}
		return
	}
	e.resendUnwritten(h)
	if h.state == Maintenance && h.inc != nil {
		phase := h.inc.paused
		h.inc.paused = ""
		e.transition(now, h, phase, "maintenance-ended", []string{"an operator took the host out of maintenance",
			fmt.Sprintf("its incident resumes at %s", phase)})
	}
	if h.state.inIncident() {
		e.workflow(now, h, a)
		return
	}
	e.restartRefused(now, h, a)
	if a.state != Failed {
		// A suspect host's rule says whether vigil holds it (held): a
		// silence that outlasts dead_after while storage cannot be read
		// changes the rule, not the state.
		unreadable := a.state == Suspect && h.rule != a.rule && (a.rule == "storage-unreadable" || h.rule == "storage-unreadable")
		if h.state != a.state || unreadable {
			ev := e.evidence(h, now)
			e.transition(now, h, a.state, a.rule, ev)
			e.alertFor(now, h, a, ev)
		}
		return
	}
	// Evidence says failed. Cluster rules decide whether vigil may act.
	failedAt, braked := h.failedAt, h.braked
	if code := e.gate(now, h); code != "" {
		st := Failed
		if code == "observer-blind" || code == "failover-grace" {
			st = Suspect
		}
		if h.state != st || h.rule != code {
			why := e.holdReason(&e.counts, now, h, code)
			e.transition(now, h, st, code, append(e.evidence(h, now), why))
			if code != "failover-grace" && code != "fence-slots" {
				e.alert(h, code, why)
			}
		}
		if h.failedAt != failedAt || h.braked != braked {
			e.persist(h) // judged failed, or held: a new leader must know since when
		}
		return
	}
	if h.state != Failed {
		e.transition(now, h, Failed, a.rule, e.evidence(h, now))
	}
	e.open(now, h)
}

// transition moves h to st and records why.
func (e *Engine) transition(now time.Time, h *host, st State, rule string, ev []string) {
	e.out.Transitions = append(e.out.Transitions, Transition{At: now, Host: h.Name, From: h.state, To: st, Rule: rule, Evidence: ev})
	if h.inc != nil && st == Rejoining && h.state != Rejoining {
		h.inc.rejoinSince = now
	}
	h.state, h.since, h.rule = st, now, rule
	if h.inc != nil && st != Rejoining {
		// An operator's rejoin is for this rejoin only; the next one is
		// alerted when it is ready.
		h.inc.approved = nil
		delete(h.alerted, "rejoin-ready")
	}
	if st == Healthy {
		h.alerted = map[string]bool{}
		e.healthyAt = now
	}
}

func (e *Engine) alertFor(now time.Time, h *host, a assessment, ev []string) {
	switch a.state {
	case ServiceDegraded, NetworkDegraded, Isolated:
		e.alert(h, string(a.state), fmt.Sprintf("%s is %s (%s): %s. The host is alive: vigil moves nothing.%s", h.Name, a.state, a.rule, strings.Join(ev, "; "), agentDownNote(h, a)))
	case Suspect:
		if a.rule == "storage-unreadable" {
			e.alert(h, "storage-unreadable", fmt.Sprintf("%s is silent, but storage heartbeats cannot be read to confirm it: vigil holds; check the Ceph cluster or confirm the host is off (vigil confirm %s)", h.Name, h.Name))
		}
	}
}

// agentDownNote says, for an alert about a live host whose agent is silent,
// what that costs its guests: the guest-start gate refuses every start
// until the agent runs, and vigil can neither see nor restart them.
func agentDownNote(h *host, a assessment) string {
	if a.rule != "agent-silent-peers-reach" {
		return ""
	}
	note := " Its agent does not answer: the guest-start gate refuses every guest start there until it runs again, and vigil can neither see its guests nor restart them; start the agent on " + h.Name
	if in := erroredOn(h); len(in) > 0 {
		note += "; Nova shows " + strings.Join(in, ", ") + " in ERROR there"
	}
	return note + "."
}

// erroredOn lists the instances Nova last showed in ERROR on h.
func erroredOn(h *host) []string {
	var out []string
	for _, in := range h.nova.Instances {
		if h.nova.Status[in] == NovaError {
			out = append(out, in)
		}
	}
	return out
}

// alert emits an alert once per host, code and episode.
func (e *Engine) alert(h *host, code, reason string) {
	if h.alerted[code] {
		return
	}
	h.alerted[code] = true
	e.out.Actions = append(e.out.Actions, Action{Kind: ActAlert, Host: h.Name, Code: code, Rule: code, Reason: reason})
}

func (e *Engine) emit(a Action) { e.out.Actions = append(e.out.Actions, a) }

func (e *Engine) persist(h *host) {
	r := h.record()
	r.Term, r.TicketsIssued = e.token, e.ticketN
	e.out.Records = append(e.out.Records, r)
}

// HostStatus is a read-only view of one host for operators.
type HostStatus struct {
	Name  string
	State State
	Since time.Time
	Rule  string
	Held  bool // failed, but vigil will not act without an operator
	// Reason says why a host is held by a cluster rule and what ends the
	// hold, as of the last Tick.
	Reason string
	Fence  *Fence
	Domain string
	// LeftToOperator are instances an operator has to look at: their
	// evacuation failed EvacuateAttempts times (alert evacuate-failed; vigil
	// keeps retrying), or it was cut short by the fence being lifted.
	// Also instances Nova shows in ERROR on a live host whose agent is
	// silent: vigil can neither see nor start them until the agent runs.
	LeftToOperator []string
	// Unfence says why the host's last unfence failed; vigil retries it.
	Unfence string
	// Seen is the evidence about the host as of the last Tick.
	Seen Seen
	// Quiet: the agent has missed a report on every network (silent for
	// half an agent timeout) as of the last Tick. The controllers read the
	// power of a quiet host (executor.PowerEvery): a BMC reading off then
	// fails it at once (rule power-off-and-silent).
	Quiet bool
}

// Seen is what the engine last heard of a host, for operators (vigil
// status): the zero time means never.
type Seen struct {
	At time.Time // the Tick this is as of
	// Networks say, for each network, when the host's agent was last
	// heard on it and when a peer last reached it there.
	Networks []NetworkSeen
	// StorageMoved is when its storage heartbeat last advanced.
	StorageMoved time.Time
	// BMC is its last power reading (PowerUnknown: never read) and when.
	BMC   Power
	BMCAt time.Time
	// NovaUp is Nova's service state at NovaAt (the weakest evidence).
	NovaUp bool
	NovaAt time.Time
}

// NetworkSeen is what was last heard of a host on one network.
type NetworkSeen struct {
	Name        string
	Agent, Peer time.Time
}

// Status returns every host's state, sorted by name.
func (e *Engine) Status() []HostStatus {
	out := make([]HostStatus, 0, len(e.order))
	for i, name := range e.order {
		h := e.hosts[name]
		s := HostStatus{Name: name, State: h.state, Since: h.since, Rule: h.rule, Domain: h.Domain, Unfence: h.unfenceErr, Seen: e.seen(h)}
		if h.inc == nil && i < len(e.assessed) && e.assessed[i].rule == "agent-silent-peers-reach" {
			s.LeftToOperator = erroredOn(h)
		}
		if h.inc == nil {
			s.LeftToOperator = append(s.LeftToOperator, h.restartWait...)
		}
		s.Quiet = e.quiet(h, e.tickAt)
		s.Held = h.held()
		if s.Held && h.inc == nil {
			switch h.rule {
			case "brake", "observer-blind", "paused":
				s.Reason = e.holdReason(&e.counts, h.since, h, h.rule)
			}
		}
		if s.Held && h.state == Rejoining && h.rule == "rejoin-ready" {
			s.Reason = readyReason(h)
		}
		if h.inc != nil {
			s.Fence = h.inc.fence
			for _, in := range h.inc.instances {
				gaveUp := h.alerted["evacuate-failed:"+in]
				stopped := h.phase() == Rejoining && h.inc.maybeSent(in) // fence lifted mid-move
				if !h.inc.done[in] && (gaveUp || stopped) {
					s.LeftToOperator = append(s.LeftToOperator, in)
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func (e *Engine) seen(h *host) Seen {
	s := Seen{At: e.tickAt, Networks: make([]NetworkSeen, len(e.cfg.Networks)),
		StorageMoved: h.storageMoved, BMC: h.bmc, BMCAt: h.bmcAt, NovaUp: h.nova.Up, NovaAt: h.novaAt}
	for i, n := range e.cfg.Networks {
		s.Networks[i] = NetworkSeen{Name: n, Agent: h.agentAt[i], Peer: h.peerAt[i]}
	}
	return s
}

// Unresolved lists instances vigil handed to an operator when their
// host's incident closed before their evacuation finished, sorted.
func (e *Engine) Unresolved() []string {
	out := make([]string, 0, len(e.unresolved))
	for in := range e.unresolved {
		out = append(out, in)
	}
	sort.Strings(out)
	return out
}

// Restore loads the records written by a previous leader: incidents, hosts
// held failed, and when hosts last failed. Call it before the first Tick as
// leader.
func (e *Engine) Restore(recs []Record) { e.restore(recs, 0) }

// RestoreSnapshot is Restore for a store that was restored from a snapshot
// (etcd's disaster recovery): restoredAt is the store's revision right after
// the restore (etcdutl's bumped revision), at least every token a record of
// the snapshot carries; the restore procedure writes it in the store, and
// every later leader passes it. Records with a Term up to restoredAt are the
// snapshot's, and may be older than what a predecessor wrote and acted on. A
// grant that let a new agent process start guests was handed out only once
// the record of its watchdog was written, and a disarm acknowledged only
// once written: such a record can hold neither, and believe an ended
// process armed. So what they say of a host's watchdog is dropped: no
// watchdog counts as a fence until the host's running agent process echoes
// a ticket issued after the restore (docs/architecture.md, "The watchdog
// contract"). Incidents and failure times are restored as Restore does.
func (e *Engine) RestoreSnapshot(recs []Record, restoredAt uint64) { e.restore(recs, restoredAt) }

func (e *Engine) restore(recs []Record, restoredAt uint64) {
	for _, r := range recs {
		h := e.hosts[r.Host]
		if h == nil {
			continue
		}
		e.ticketN = max(e.ticketN, r.TicketsIssued)
		h.recordBoot = r.WatchdogBoot + r.WatchdogOffBoot // one of them is set, or none
		if r.WatchdogEchoed {
			h.echoedBoot = h.recordBoot
		}
		if restoredAt > 0 && r.Term <= restoredAt {
			// Tickets this engine issues must still differ from every
			// one written (a lost one may be higher: the fencing token,
			// bumped with the store's revision, makes them differ).
			e.ticketN = max(e.ticketN, r.WatchdogTicket.N)
			// (What it says of stopped processes only ever keeps a
			// watchdog from counting: kept.)
			r.WatchdogBoot, r.WatchdogOffBoot, r.WatchdogSeq, r.WatchdogTicket, r.WatchdogAgent, r.WatchdogEchoed = "", "", 0, Ticket{}, "", false
		}
		// What the predecessor believed of the host's watchdog: armed (the
		// safe time counts from this leader's start) or disarmed by an
		// acknowledged stop, with the message that made it so.
		switch {
		case r.WatchdogBoot != "":
			h.grantBoot, h.grantArmed = r.WatchdogBoot, true
		case r.WatchdogOffBoot != "":
			h.grantBoot, h.grantArmed = r.WatchdogOffBoot, false
		}
		h.grantSeq, h.ticket, h.tAgent, h.echoed, h.stoppedProcs = r.WatchdogSeq, r.WatchdogTicket, r.WatchdogAgent, r.WatchdogEchoed, slices.Clone(r.WatchdogStopped)
		// Tickets this engine issues must differ from every one written,
		// whatever fencing token it is given.
		e.ticketN = max(e.ticketN, h.ticket.N)
		h.armedIso, h.armedWd = r.WatchdogIsolation, r.WatchdogTimeout
		h.grantArmed = h.grantArmed && h.echoed && e.timeoutsOK(h.armedIso, h.armedWd)
		h.savedState = h.watchdogState() // read from the store: written
		if !r.UnfenceDue.IsZero() && !r.Phase.inIncident() {
			// The predecessor's unfence of it failed: retry it (at once
			// if it was due already).
			h.unfenceDue, h.unfenceErr, h.unfenceWait = r.UnfenceDue, r.UnfenceErr, e.cfg.FenceRetry
		}
		// What its fences did, for renewing and lifting them.
		h.fenceRecs, h.liftRecs, h.fenceSince, h.liftSince, h.liftUnmoved = r.FenceRecords, r.LiftRecords, r.FenceSince, r.LiftSince, r.LiftUnmoved
		if h.fenceSince.IsZero() && r.Phase.inIncident() {
			h.fenceSince = r.Opened
		}
		// When the host last failed, so an old failure is not a fresh one.
		h.failedAt = r.Failed
		if h.failedAt.IsZero() && r.Phase.inIncident() {
			h.failedAt = r.Opened // a record written before Failed existed
		}
		if r.Phase == Failed && !h.failedAt.IsZero() {
			// Failed and held by a cluster rule: the episode goes on, and
			// the brake still holds it until its rules say otherwise.
			h.badSince, h.braked = h.failedAt, r.Brake
			continue
		}
		if !r.Phase.inIncident() {
			continue // closed, or not a phase an incident can be in
		}
		h.badSince = h.failedAt
		inc := newIncident(r.Opened)
		inc.fence, inc.instances, inc.fenceLost = r.Fence, r.Instances, r.FenceLost
		if r.Level > 0 {
			inc.level = r.Level
		}
		for _, d := range r.Done {
			inc.done[d] = true
			inc.sent[d] = true
		}
		for _, d := range r.Moving {
			inc.sent[d] = true
		}
		for _, d := range r.Stopped {
			inc.stopped[d] = true
		}
		for d, holders := range r.CopyElsewhere {
			inc.heldCopy[d] = slices.Clone(holders)
		}
		h.inc = inc
		h.state = r.Phase
		h.rule = "restored"
		if r.Phase == Recovering {
			// Evacuations in flight at the failover are sent again; the
			// executor treats an instance already moved as done.
			h.state = Fenced
		}
		if r.Fence == nil && r.Phase != Fencing {
			// A record past fencing without its proof cannot be trusted
			// to allow an evacuation: fence again.
			h.state, h.rule = Fencing, "restored-without-proof"
		}
		if h.state == Rejoining && r.RejoinBy != "" {
			// An operator's rejoin, journaled: still checked against
			// what this leader sees before the host is let back.
			inc.approved = &approval{by: r.RejoinBy, boot: r.RejoinBoot, at: r.RejoinAt}
		}
	}
}

// levels is the number of fence levels of h's topology.
func (e *Engine) levels(h *host) int {
	if h.FenceLevels > 0 {
		return h.FenceLevels
	}
	return e.cfg.FenceLevels
}
