package decision

import (
	"encoding/json"
	"slices"
	"sort"
	"time"
)

// HostInfo is what the engine is told about a host when it is added.
type HostInfo struct {
	Name   string
	Domain string // failure domain (rack, AZ); "" is the default domain
	// FenceLevels is the number of levels of this host's fencing topology;
	// 0 means Config.FenceLevels.
	FenceLevels int
}

// host is everything the engine knows about one host. Times are the
// controller's receive times; the zero time means "never".
type host struct {
	HostInfo
	state State
	since time.Time
	rule  string // rule behind the current state

	agentAt []time.Time // per network index: last agent report
	peerAt  []time.Time // per network index: last peer that reached it
	peerBy  []string    // per network index: that peer
	self    SelfReport
	selfAt  time.Time

	storageCounter uint64
	storageMoved   time.Time // last time the counter changed
	storageSeen    bool
	storageFirst   time.Time // a read that dated no move: this leader's first, or the first after reads failed
	// storageBoot is the last heartbeat's writer (StorageHeartbeats.Boots),
	// storageBootSince when that boot's records began.
	storageBoot      StorageBoot
	storageBootSince time.Time

	bmc   Power
	bmcAt time.Time

	nova   NovaService
	novaAt time.Time

	writers map[string]time.Time // instance → last time this host was seen writing its disk
	// writerSince: instance → when the unbroken run of reads that showed
	// this host on its disk began (a gap longer than writerGap starts a
	// new one).
	writerSince map[string]time.Time
	// listedAt: instance → the last report of this host's agent that
	// listed it running.
	listedAt map[string]time.Time

	// The watchdog contract (grant.go): when this leader last granted the
	// host, for which boot, and whether that report armed a watchdog; an
	// acknowledged clean stop disarms it.
	grantAt    time.Time
	grantBoot  string
	grantArmed bool
	grantSeq   uint64 // the holder's message that last set grantArmed
	// The host's current ticket, the agent process (on boot grantBoot) it
	// was issued to, and whether that process echoed it: only then does
	// its watchdog count (grant.go, Ticket).
	ticket Ticket
	tAgent string
	echoed bool
	// watchdogUnsaved: what vigil believes of the watchdog changed and the
	// record saying so is not known written yet (guestsSafe).
	watchdogUnsaved unsaved
	unsavedIn       uint64        // the Ready that carried that record
	unsavedState    watchdogState // what that record says
	unsavedAt       time.Time
	// unsavedAck is the ack of the clean stop that record disarms: it goes
	// out again with the record when the write must be retried.
	unsavedAck *Ack
	ackOut     bool // unsavedAck is in the Ready being built
	// unsavedReadies: the Readies that carried unsavedState, unchanged
	// since (the last readiesKept): a confirmation of any confirms it.
	unsavedReadies []uint64
	// stoppedProcs: agent processes ("agent@boot") whose clean stop was
	// taken: none is counted armed again (stopped).
	stoppedProcs []string
	// savedState is what the last record known written says: only its
	// ticket is handed out, and a successor may restore it.
	savedState watchdogState
	lastGuests bool // the last grant let guests start
	// boots: when each boot of the host was last heard (messages not
	// provably stale), the few most recent: what an operator's confirm
	// says is off.
	boots map[string]time.Time
	// echoedBoot is the boot of the last process that echoed its ticket
	// (the running one, as far as vigil can prove), and recordBoot the boot
	// the restored record named (kept even when a snapshot's belief is
	// dropped): a confirm refuses both, however long ago they spoke.
	echoedBoot, recordBoot string
	// armedIso, armedWd: the timeouts the armed watchdog was counted with.
	armedIso, armedWd time.Duration
	// The last stale message's process and sequence number, and how many
	// of its messages in a row came newer than the one before.
	staleAgent string
	staleSeq   uint64
	staleN     int
	// flaps: placements in a row that replaced a holder that had not
	// echoed (flap).
	flaps int

	// An unfence the executor reported failed: retried until it works.
	unfenceDue  time.Time
	unfenceWait time.Duration
	unfenceErr  string
	// fenceRecs, liftRecs: the executor's records of what the host's
	// fences did, in force and sent for lifting (records.go); renewRecs
	// those the renewal out was sent with.
	fenceRecs, liftRecs, renewRecs []json.RawMessage
	fenceSince, liftSince          time.Time
	// resend: a force-down or re-enable of a Ready never written, sent
	// again at the host's next turn out of maintenance.
	resend      []Action
	liftUnmoved bool // the lift due needs no reset evidence (Action.Unmoved)
	// closedUnmoved: the host's last incident closed with nothing moved.
	closedUnmoved bool

	// restartAt: when vigil last asked for a hard reboot of a guest its
	// gate refused on this host, per instance (restart.go).
	restartAt map[string]time.Time
	// restartWait: refused guests nothing can start while nova-compute is
	// not running on the host (restart.go): the operator's.
	restartWait []string

	maintenance bool
	badSince    time.Time // onset of the current bad episode (suspect or worse); zero when live
	// failedAt is when the host was last judged failed by evidence the
	// cluster rules accepted. It outlives its episode: the brake counts a
	// host that failed within its window even if it came back.
	failedAt time.Time
	alerted  map[string]bool
	released bool // operator released the brake for this host
	braked   bool // the brake holds this host in its current bad episode
	// answeredAt: a fence of this bad episode was aborted because the host
	// answered the executor's probe, and nothing else showed life. Silence
	// counts again from then, and the next fence ignores a ping answer.
	answeredAt time.Time

	inc *incident
}

// incident is the fence-and-recover workflow for one failed host.
type incident struct {
	opened    time.Time
	cause     string // the rule that failed the host
	level     int
	inFlight  bool
	sentAt    time.Time // when the fence in flight was decided
	cancelled bool      // cancel-fence sent for the fence in flight
	attempts  int       // full rounds over every level that failed
	nextTry   time.Time
	lastErr   string
	fence     *Fence
	instances []string
	done      map[string]bool      // moved off the host: ACTIVE elsewhere, or Nova places it on another host
	doneAt    map[string]time.Time // when done was last set
	evacTries map[string]int
	evacAt    map[string]time.Time // when an evacuate was last sent
	evacWait  map[string]bool      // sent, no result yet
	sent      map[string]bool      // Nova accepted an evacuation: a copy may run elsewhere
	forced    bool                 // force-down sent
	// stopped: instances Nova showed SHUTOFF on the host during the
	// incident. Nova forgets it when its scheduler finds no host (ERROR)
	// or the executor resets a stuck rebuild, and then rebuilds them
	// ACTIVE: the executor must stop them again.
	stopped map[string]bool
	// heldCopy: instances not evacuated because another host runs them
	// (copyElsewhere), and that host; persisted: a successor holds them
	// until that host is fenced or tells it that it runs no copy.
	heldCopy  map[string][]string
	fenceLost string // why the executor found the fence lifted
	// prior, priorLost: the undone fence a new round replaces (refence),
	// put back if the round ends with the host alive.
	prior     *Fence
	priorLost string
	// The next renewal of a fence that lapses unless renewed, and whether
	// one is in flight.
	renewAt   time.Time
	renewing  bool
	roundErrs []string // every level's failure in the current round

	// The executor could not read the fence before calling Nova: why, how
	// many rounds in a row, and no evacuation before recheckAt.
	unreadable string
	rechecks   int
	recheckAt  time.Time

	paused  State // the phase the incident was in when maintenance began
	stalled bool  // rejoining, instances not moved, and the host shows no life
	// rejoinSince: when the incident entered Rejoining (the rules of a
	// rejoin that it waits under change the host's since, not this).
	rejoinSince time.Time
	// approved: an operator let the rejoining host back (input Rejoin);
	// void once it is unclean, silent, in another boot, or no longer
	// rejoining.
	approved *approval
}

// approval is an operator's rejoin of a host: who, when, for which boot,
// and the Ready that journals it (0: restored, written already).
type approval struct {
	by    string
	boot  string
	at    time.Time
	ready uint64
}

func newIncident(opened time.Time) *incident {
	return &incident{opened: opened, level: 1, done: map[string]bool{}, evacTries: map[string]int{},
		evacAt: map[string]time.Time{}, evacWait: map[string]bool{}, sent: map[string]bool{}, stopped: map[string]bool{}, heldCopy: map[string][]string{}}
}

// maybeSent reports whether Nova may have accepted an evacuation of in: it
// said so, or a call is still out and its fate unknown.
func (inc *incident) maybeSent(in string) bool { return inc.sent[in] || inc.evacWait[in] }

// stoppedOf lists the instances of ins that Nova showed SHUTOFF.
func (inc *incident) stoppedOf(ins []string) []string {
	var out []string
	for _, in := range ins {
		if inc.stopped[in] {
			out = append(out, in)
		}
	}
	return out
}

// phase is where the incident stands, maintenance or not.
func (h *host) phase() State {
	if h.state == Maintenance && h.inc != nil {
		return h.inc.paused
	}
	return h.state
}

// markDone counts an instance as moved off the incident's host.
func (inc *incident) markDone(in string, now time.Time) {
	inc.done[in] = true
	if inc.doneAt == nil {
		inc.doneAt = map[string]time.Time{}
	}
	inc.doneAt[in] = now
}

// placement is where Nova placed an instance, by a read received at at.
type placement struct {
	host, status string
	at           time.Time
}

func (h *host) lastAgent() time.Time {
	var t time.Time
	for _, a := range h.agentAt {
		if a.After(t) {
			t = a
		}
	}
	return t
}

func fresh(t, now time.Time, d time.Duration) bool {
	return !t.IsZero() && now.Sub(t) < d
}

// failedThisEpisode reports whether the current bad episode was judged failed.
func (h *host) failedThisEpisode() bool {
	return !h.failedAt.IsZero() && !h.badSince.IsZero() && !h.failedAt.Before(h.badSince)
}

// writerGap is the longest gap between two disk-watch reads that showed a
// host on an instance's disk for them to count as one run: watchers are
// read every few seconds (the simulator: 5 s), and a watch lingers ~30 s
// after its client died.
const writerGap = 15 * time.Second

// deadWatchLinger bounds how long a dead client's watch can still be read:
// ~30 s (FIELD-NOTES), and a read interval's slack.
const deadWatchLinger = 45 * time.Second

// watchdogRecord writes what vigil believes of h's watchdog into r: the
// boot last heard, armed or disarmed, and the message that made it so.
func (h *host) watchdogRecord(r *Record) {
	if h.grantBoot == "" && h.tAgent == "" && h.ticket.IsZero() {
		return
	}
	r.WatchdogSeq, r.WatchdogTicket, r.WatchdogAgent, r.WatchdogEchoed, r.WatchdogStopped = h.grantSeq, h.ticket, h.tAgent, h.echoed, slices.Clone(h.stoppedProcs)
	if h.grantArmed {
		r.WatchdogIsolation, r.WatchdogTimeout = h.armedIso, h.armedWd
	}
	if h.grantArmed {
		r.WatchdogBoot = h.grantBoot
	} else {
		r.WatchdogOffBoot = h.grantBoot
	}
}

// record is what a new leader needs of h: its incident, or, without one,
// whether it is failed (held by a cluster rule) and when it last failed.
func (h *host) record() Record {
	r := Record{Host: h.Name, Phase: h.phase(), Failed: h.failedAt, FenceRecords: h.fenceRecs, LiftRecords: h.liftRecs, FenceSince: h.fenceSince, LiftSince: h.liftSince, LiftUnmoved: h.liftUnmoved}
	h.watchdogRecord(&r)
	if h.inc == nil {
		r.Phase = ""
		r.UnfenceDue, r.UnfenceErr = h.unfenceDue, h.unfenceErr
		if h.state == Failed && h.failedThisEpisode() {
			r.Phase, r.Brake = Failed, h.braked
		}
		return r
	}
	r.Opened = h.inc.opened
	r.Level = h.inc.level
	r.Fence, r.FenceLost = h.inc.fence, h.inc.fenceLost
	r.Instances = h.inc.instances
	if a := h.inc.approved; a != nil && r.Phase == Rejoining {
		r.RejoinBy, r.RejoinBoot, r.RejoinAt = a.by, a.boot, a.at
	}
	for _, in := range h.inc.instances {
		if h.inc.done[in] {
			r.Done = append(r.Done, in)
		} else if h.inc.sent[in] {
			r.Moving = append(r.Moving, in)
		}
		if h.inc.stopped[in] {
			r.Stopped = append(r.Stopped, in)
		}
		if holders := h.inc.heldCopy[in]; len(holders) > 0 {
			if r.CopyElsewhere == nil {
				r.CopyElsewhere = map[string][]string{}
			}
			r.CopyElsewhere[in] = holders
		}
	}
	return r
}

// held reports whether vigil is deliberately not recovering h: a cluster rule
// or a fence that cannot be verified stands between it and its instances.
func (h *host) held() bool {
	switch h.state {
	case Maintenance:
		return true
	case Failed:
		return h.inc == nil
	case Suspect:
		return h.rule == "observer-blind" || h.rule == "storage-unreadable"
	case Fencing:
		return h.inc != nil && h.inc.fence == nil && h.inc.attempts > 0
	case Fenced, Recovering:
		return h.inc != nil && h.inc.unreadable != ""
	case Rejoining:
		return h.inc != nil && (h.inc.stalled || h.rule == "rejoin-ready")
	}
	return false
}

// unsaved tracks a change of what vigil believes of a host's watchdog on
// its way to the store.
type unsaved uint8

const (
	unsavedNone    unsaved = iota
	unsavedChanged         // changed, its record not yet returned in a Ready
	unsavedWriting         // returned in a Ready, not yet confirmed by Persisted
)

// readiesKept bounds unsavedReadies: rewrites come a second apart.
const readiesKept = 16

// bootsKept is how far back an operator's confirm covers the boots heard,
// and bootsMax how many it keeps.
const (
	bootsKept = time.Hour
	bootsMax  = 8
)

// heardBoot notes that boot spoke at now.
func (h *host) heardBoot(boot string, now time.Time) {
	if boot == "" {
		return
	}
	if h.boots == nil {
		h.boots = map[string]time.Time{}
	}
	h.boots[boot] = now
	if len(h.boots) > bootsMax {
		oldest := ""
		for b, at := range h.boots {
			if b != h.echoedBoot && b != boot && (oldest == "" || at.Before(h.boots[oldest])) {
				oldest = b // never the boot that last echoed: it may be the one running
			}
		}
		delete(h.boots, oldest)
	}
}

// bootsSince lists the boots heard since from, sorted.
func (h *host) bootsSince(from time.Time) []string {
	var out []string
	for b, at := range h.boots {
		if !at.Before(from) {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// heartbeatMoved is when this leader last saw h's storage heartbeat change,
// zero if it never did: its first read of a counter is no move (a dead
// host's counter, read by a new leader, would otherwise look written), nor
// is the first read after reads failed for a storage timeout (the write may
// be from any time in that gap).
// assess's liveness judgement keeps the first read as a move (storageMoved),
// which holds a new leader back; evidence of life after a fence must not.
func (h *host) heartbeatMoved() time.Time {
	if !h.storageMoved.After(h.storageFirst) {
		return time.Time{}
	}
	return h.storageMoved
}
