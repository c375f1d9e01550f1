package decision

import (
	"encoding/json"
	"time"
)

// Input is anything the engine learns: an observation about the world, the
// result of an action, an operator's command, or a change of leadership.
type Input interface{ isInput() }

// Process is an agent's view of one local service.
type Process struct {
	Running  bool
	Restarts int // restarts seen since the agent started
}

// SelfReport is what the host agent says about its own host.
type SelfReport struct {
	BootID      string
	NovaCompute Process
	Libvirtd    Process
	Domains     []string // instance UUIDs of running guests
	// GuestsUnknown: the agent cannot list the host's guests now (libvirt
	// unreachable): Domains says nothing, and an empty one is not "runs
	// none".
	GuestsUnknown bool
	// Refused lists the guests whose start the guest-start gate refused in
	// this boot (no fresh grant, or a grant that withheld guests while an
	// incident held the host's fence) and that have not started since.
	Refused       []string
	WatchdogArmed bool // the agent feeds a watchdog that resets the host when isolated
	// Agent names the agent process: random, chosen when it starts, never
	// reused. Ticket is the one the leader's grants gave this process
	// (Grant.Ticket), zero until then. Together they let vigil order the
	// host's agent processes, across restarts and reboots, without
	// trusting anything the host keeps (grant.go, Ticket).
	Agent  string
	Ticket Ticket
	// Seq numbers the process's messages: reports and a clean stop notice
	// may arrive out of order over different networks and relays, and
	// only the order they were sent in counts.
	Seq uint64
	// IsolationTimeout is how long the agent process feeds its watchdog
	// after the report a grant answers, and WatchdogTimeout the timeout
	// its watchdog device reads back (a device may round a requested
	// timeout up). Zero: not said (an older agent). A watchdog counts as
	// a fence only when both are no longer than the safe time assumes.
	IsolationTimeout, WatchdogTimeout time.Duration
	// Stopping: the process sent its clean-stop notice and waits for the
	// ack that disarms its watchdog; said in every later message, so no
	// leader (one restored from a snapshot that lost the stop) counts it
	// armed.
	Stopping bool
}

// AgentReport is a message received from a host's agent over one network.
// It is also the agent's request for a grant (see Engine.Grant).
type AgentReport struct {
	Host, Network string
	Self          SelfReport
	// Via names the peer that relayed the report because the agent could not
	// reach the controller itself; "" means received directly. A relayed
	// report proves the agent alive and reaching that peer on Network, not
	// that the host reaches the controller there.
	Via string
}

// AgentStopping is an agent's notice that it stops cleanly. The engine
// answers it with an Ack in Ready, after the Records that persist the
// disarm: the controller sends the acknowledgement only once those are
// written, and only then does the agent disarm its watchdog. From the
// notice on, the host's silence is no self-fence.
type AgentStopping struct {
	Host, BootID string
	Agent        string // the stopping agent process (SelfReport.Agent)
	Ticket       Ticket // its ticket (SelfReport.Ticket)
	Seq          uint64 // the notice's place among the agent's messages
}

// PeerReport is one host's probe of another host's address on one network.
type PeerReport struct {
	Observer, Host, Network string
	Reachable               bool
}

// StorageHeartbeats is one read of the heartbeat counters that every host's
// agent writes to shared storage. OK false means the read itself failed.
type StorageHeartbeats struct {
	OK       bool
	Counters map[string]uint64
	// Boots says, for the hosts whose records carry it, what else the
	// record says: the boot that wrote it, how many guests that boot
	// runs, and whether its guest-start gate is installed.
	Boots map[string]StorageBoot
}

// StorageBoot is the writer of a host's heartbeat record. A record of a
// boot vigil never heard of, running no guest behind an installed gate,
// proves that the boot vigil knew has ended and that the new one runs
// nothing vigil may start elsewhere (Engine.rebootProof).
type StorageBoot struct {
	BootID string
	Guests int
	Gated  bool
}

// BMCReading is one power-state read of a host's BMC.
type BMCReading struct {
	Host  string
	Power Power
	// Asked is when the controller asked the BMC, by its own clock: a read
	// that took seconds answers what the power was then. The engine dates
	// the reading from it, so a read begun before a fence's power-off and
	// answered after the fence was verified is not taken for the fence
	// undone. Zero: the reading is dated when it is stepped.
	Asked time.Time
}

// NovaService is Nova's view of a host's nova-compute service and the
// instances Nova places on that host.
type NovaService struct {
	Host       string
	Up         bool // Nova's own liveness: heartbeat within service_down_time
	ForcedDown bool
	Disabled   bool
	Instances  []string
	// Status is each listed instance's Nova server status (ACTIVE, SHUTOFF,
	// ERROR, REBUILD, ...); an instance missing from it is of unknown status.
	Status map[string]string
}

// Nova server statuses the engine tells apart.
const (
	NovaActive  = "ACTIVE"
	NovaError   = "ERROR"
	NovaShutoff = "SHUTOFF"
)

// DiskWriters lists the hosts currently holding watches or the lock on an
// instance's disk. Evidence only: a crashed client's watch lingers ~30 s.
type DiskWriters struct {
	Instance string
	Hosts    []string
}

// SetMaintenance is an operator putting a host into or out of maintenance.
type SetMaintenance struct {
	Host string
	On   bool
}

// SetPause is an operator pausing vigil, or resuming it: while paused, no
// new incident opens (no host not already being fenced is fenced); hosts
// judged failed are held, alerted, and said to be held by the pause.
// Incidents already open carry on: their fences stay in force and are
// renewed, their instances still move (stopping them half way would leave
// a fenced host's guests down and gain nothing). Resuming lets the held
// hosts' incidents open at the next Tick, if they are still failed.
type SetPause struct {
	On         bool
	By, Reason string
	// At is when the pause began (a new leader steps the stored one);
	// zero: when it is stepped.
	At time.Time
}

// FenceResult is the executor's report of a Fence action. OK means the
// fence was carried out AND verified.
type FenceResult struct {
	Host   string
	Level  int
	OK     bool
	Method string // e.g. "ipmi"
	Proof  string // what showed the fence took effect
	Err    string // why it failed
	// Aborted says the executor stopped before any device acted, and why;
	// the host was not touched. Not a failed fence: the engine judges the
	// host again.
	Aborted FenceAbort
	// Records are the executor's typed records of what the level's devices
	// did (fence.Proof as JSON), verified or, for a failed level, what its
	// devices changed half way. The engine journals them with the host and
	// hands them back on its renewals and unfences (Action.Records).
	Records []json.RawMessage
}

// Elsewhere reports whether r found the instance already placed on another
// host than the failed one, before any request (an earlier evacuation, a
// predecessor's, went through): nothing was sent. The engine judges from
// Placed and Status whether that counts as moved; this is for operators'
// words and metrics.
func (r EvacuateResult) Elsewhere() bool {
	return !r.OK && !r.Accepted && !r.FenceLost && !r.FenceUnreadable && r.Placed != "" && r.Placed != r.Host
}

// FenceAbort is why a fence was stopped before its device acted.
type FenceAbort int

const (
	NotAborted       FenceAbort = iota
	AbortHostAnswers            // the probe right before the power-off got an answer
	AbortCancelled              // the engine cancelled it (ActCancelFence)
)

func (a FenceAbort) String() string {
	switch a {
	case AbortHostAnswers:
		return "aborted: host answers"
	case AbortCancelled:
		return "cancelled: host alive after the decision"
	}
	return "not aborted"
}

// EvacuateResult is the executor's report for one instance of an Evacuate.
// The executor re-reads the fence right before it calls Nova; when that read
// stops it, Nova was never asked (FenceLost or FenceUnreadable, Accepted false).
type EvacuateResult struct {
	Host, Instance string
	OK             bool // running ACTIVE on Target
	Target         string
	Err            string
	// Accepted: Nova accepted the evacuate call, so a copy may start (or
	// run) elsewhere whatever the outcome. OK implies it.
	Accepted bool
	// FenceLost: the fence was read and no longer holds (the chassis power
	// reads on, the blocklist entries are gone): positive evidence that the
	// host may write again.
	FenceLost bool
	// Placed and Status are where Nova places the instance and its server
	// status when the executor finished ("" when it could not read them).
	// An instance Nova places on another host than Host is no longer this
	// incident's to move: that host's state decides what happens to it.
	Placed, Status string
	// FenceUnreadable: the fence could not be read (the BMC or the Ceph
	// monitors do not answer). That proves nothing either way: the host may
	// well still be off.
	FenceUnreadable bool
}

// UnfenceResult is the executor's report of an Unfence action. A failed
// unfence (the Ceph monitors unreachable, say) leaves the host blocklisted
// although vigil has let it back: the engine retries it.
type UnfenceResult struct {
	Host string
	OK   bool
	Err  string
}

// RenewResult is the executor's report of an ActRenewFence. Lapsed: an
// entry was found gone and added again, so the host may have written in
// between (an alarm); the fence holds again. Err: the renewal failed (the
// Ceph monitors unreachable, say): retried, and alerted.
type RenewResult struct {
	Host   string
	OK     bool
	Lapsed bool
	Err    string
	// Records are the records after the renewal, in place of those the
	// action carried (new expiries); nil leaves them as they were.
	Records []json.RawMessage
}

// Unwritten tells the engine that the controller could not write Ready
// Ready and so carried out none of its actions but alerts (a leader carries
// out nothing it has not journaled). Actions waiting for a result that will
// never come are due again: a fence, an evacuation, a renewal, a restart;
// a force-down and a re-enable, which wait for no result, are sent again.
type Unwritten struct {
	Ready   uint64
	Actions []Action
	// Hosts are the hosts whose records that Ready carried: each is
	// written again with the next Ready, before the actions due again (an
	// evacuation must never go out with no fence on record).
	Hosts []string
}

// Confirm is an operator vouching that a host is off and its guests stopped.
// It stands in for a verified fence.
type Confirm struct {
	Host, By string
}

// Release is an operator allowing automatic fencing of a host that a
// cluster rule (the mass-failure brake) is holding.
type Release struct {
	Host, By string
}

// Rejoin is an operator letting a rejoining host back into service (vigil
// rejoin HOST), which Config.Rejoin manual waits for. It is taken only
// while the host is clean, and it holds only while the host stays clean,
// in the boot it was given for: it replaces the "automatic", never a check
// (rejoin.go). It is journaled with the host's record, so a new leader
// keeps it.
type Rejoin struct {
	Host, By string
}

// Leadership tells the engine whether its controller leads. A new leader
// re-arms every host with the failover grace before judging any.

type Leadership struct {
	Leader bool
	// Token is the fencing token of this term (the etcd leader key's
	// revision); grants carry it so agents can tell terms apart.
	Token uint64
}

// Persisted tells the engine that the controller durably wrote the records
// of the Ready numbered Ready (Ready.Seq; the fenced etcd transaction
// committed). Until then a grant that followed a change of what vigil
// believes of a host's watchdog lets no guest start: a successor might still
// believe an ended boot armed. A record whose Ready was never confirmed (its
// write failed) is sent again in the next Ready. A leader that lost etcd
// steps none.
type Persisted struct{ Ready uint64 }

func (AgentReport) isInput()       {}
func (RenewResult) isInput()       {}
func (Unwritten) isInput()         {}
func (PeerReport) isInput()        {}
func (StorageHeartbeats) isInput() {}
func (BMCReading) isInput()        {}
func (NovaService) isInput()       {}
func (DiskWriters) isInput()       {}
func (SetMaintenance) isInput()    {}
func (SetPause) isInput()          {}
func (FenceResult) isInput()       {}
func (EvacuateResult) isInput()    {}
func (Confirm) isInput()           {}
func (Release) isInput()           {}
func (Rejoin) isInput()            {}
func (Leadership) isInput()        {}
func (AgentStopping) isInput()     {}
func (UnfenceResult) isInput()     {}
func (Persisted) isInput()         {}
