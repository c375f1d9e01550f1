package decision

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ActionKind names what an action does.
type ActionKind string

const (
	ActAlert ActionKind = "alert"
	ActFence ActionKind = "fence"
	// ActCancelFence stops a fence in flight before its device acts: the
	// host showed life after the decision. Too late once the power-off was
	// sent; then the fence's own result stands.
	ActCancelFence ActionKind = "cancel-fence"
	ActForceDown   ActionKind = "force-down"
	ActEvacuate    ActionKind = "evacuate"
	ActUnfence     ActionKind = "unfence"
	ActReEnable    ActionKind = "re-enable"
	// ActRestart hard-reboots instances in place, on the host Nova places
	// them on: guests vigil's own gate refused there (SelfReport.Refused).
	ActRestart ActionKind = "restart"
	// ActRenewFence renews the host's fences that lapse unless renewed
	// (Ceph blocklist entries, without a gap: executor.Renew) and re-adds
	// any found gone, while its incident holds them (RenewResult).
	ActRenewFence ActionKind = "renew-fence"
)

// Action is one thing for the executor to do. Actions are data.
type Action struct {
	Kind  ActionKind
	Host  string
	Level int // fence: topology level, 1-based
	// ProbeAborts (fence): right before the power-off, probe the host and
	// abort when it answers (FenceResult.Aborted). False on a host that
	// already answered one such probe and stayed silent otherwise for
	// dead_after more: a hung userspace whose kernel answers ping.
	ProbeAborts bool
	// Since (fence, unfence): when the first incident whose fences are
	// not yet lifted opened. A storage fence claims as its own an entry
	// made since with vigil's expiry, and an unfence lifts such entries
	// too: an add whose result, or record, was lost with a leader
	// (fence.Target.Since, fence.Release.Since).
	Since time.Time
	// Unmoved (unfence): no instance was started elsewhere (the fence was
	// aborted, or outlived its incident): lifting needs no proof that the
	// host was reset (fence.Release.Unmoved).
	Unmoved   bool
	Instances []string // evacuate, restart
	Avoid     []string // evacuate: hosts vigil does not trust as targets now
	// FenceMethod (evacuate): how the host was fenced, so the executor can
	// re-read that fence right before it calls Nova.
	FenceMethod string
	// Stopped (evacuate): instances Nova showed SHUTOFF. They must end
	// SHUTOFF on their target: an executor whose Nova rebuilds one ACTIVE
	// (its state was reset, or set to ERROR by a failed scheduling) stops
	// it again before it reports it moved.
	Stopped []string
	// Records (unfence, renew-fence): the executor's own records of what
	// the host's fences did (FenceResult.Records), from the journal: what
	// to lift or renew, whichever leader sent the fence. Opaque to the
	// engine.
	Records []json.RawMessage
	Code    string // alert: stable code, e.g. "fence-failed"
	Rule    string // the rule that decided it
	Reason  string // human-readable evidence
}

func (a Action) String() string {
	var b strings.Builder
	b.WriteString(string(a.Kind))
	switch a.Kind {
	case ActFence:
		b.WriteString("(level " + strconv.Itoa(a.Level) + ")")
	case ActEvacuate, ActRestart:
		b.WriteString("(" + strings.Join(a.Instances, ",") + ")")
	case ActAlert:
		b.WriteString("(" + a.Code + ")")
	}
	return b.String()
}

// Transition is one host changing state, with the rule and evidence behind it.
type Transition struct {
	At       time.Time
	Host     string
	From, To State
	Rule     string
	Evidence []string
}

// Ready is everything the engine decided since the last Tick. The caller must
// persist Records before carrying out Actions.
type Ready struct {
	// Seq numbers the Ready; the controller confirms a write of its
	// Records with Persisted{Ready: Seq}.
	Seq         uint64
	Transitions []Transition
	Actions     []Action
	Records     []Record
	// Acks are clean-stop notices whose disarm the Records above persist:
	// send each acknowledgement to its agent only after writing them.
	Acks []Ack
}

// Ack acknowledges an agent's clean-stop notice: the agent may disarm.
type Ack struct {
	Host, BootID string
	Agent        string // the stopping agent process: no other may take it
	Seq          uint64
}

// Empty reports whether r holds nothing.
func (r Ready) Empty() bool {
	return len(r.Transitions) == 0 && len(r.Actions) == 0 && len(r.Records) == 0 && len(r.Acks) == 0
}

// Record is the durable part of a host's incident and of what the cluster
// rules know of it. A new leader restores the engine from these, so an
// incident survives a controller failover, and so does the brake's memory of
// when hosts failed: a host dead for an hour is not a fresh failure. The
// store keeps the latest record of each host; a closed record ("" phase)
// still carries Failed while it matters to the brake.
type Record struct {
	Host string `json:"host"`
	// Term is the fencing token of the leader that wrote it: records
	// older than a restore of the store from a snapshot are told apart by
	// it (Engine.RestoreSnapshot).
	Term uint64 `json:"term,omitempty"`
	// TicketsIssued is the count of tickets its writer had issued in its
	// term when it wrote it: a successor given the same token issues
	// tickets above every one handed out (none is handed out unwritten).
	TicketsIssued uint64 `json:"tickets_issued,omitempty"`
	// Phase is Fencing … Rejoining for an open incident, Failed for a host
	// judged failed that a cluster rule holds, "" otherwise (closed).
	Phase  State     `json:"phase"`
	Opened time.Time `json:"opened"`
	// Failed is when the host was last judged failed by evidence.
	Failed time.Time `json:"failed,omitzero"`
	// Brake: the mass-failure brake holds the host (phase Failed).
	Brake     bool     `json:"brake,omitempty"`
	Level     int      `json:"level,omitempty"`
	Fence     *Fence   `json:"fence,omitempty"`
	Instances []string `json:"instances,omitempty"` // to evacuate, fixed when fenced
	Done      []string `json:"done,omitempty"`      // evacuated
	// WatchdogBoot is the boot whose armed watchdog the last grant covered
	// (written whenever that changes, incident or not): a new leader may
	// count that boot as self-fenced after the safe time from its own
	// election, as this leader would have from its last grant.
	WatchdogBoot string `json:"watchdog_boot,omitempty"`
	// WatchdogOffBoot is instead the boot last heard when vigil counts no
	// watchdog of it (disarmed by an acknowledged stop, or never armed).
	// A field of its own: a vigil that does not know it reads no armed
	// watchdog, never a wrong one.
	WatchdogOffBoot string `json:"watchdog_off_boot,omitempty"`
	// WatchdogSeq is the message that last armed or disarmed it: older
	// reports arriving late do not re-arm a watchdog a clean stop disarmed.
	WatchdogSeq uint64 `json:"watchdog_seq,omitempty"`
	// WatchdogTicket is the host's current ticket (grant.go, Ticket) and
	// WatchdogAgent the agent process it was issued to, on the boot above;
	// WatchdogEchoed: that process has echoed it, so it is placed after
	// every other. Written before the ticket is handed out.
	WatchdogTicket Ticket `json:"watchdog_ticket,omitzero"`
	WatchdogAgent  string `json:"watchdog_agent,omitempty"`
	WatchdogEchoed bool   `json:"watchdog_echoed,omitempty"`
	// WatchdogStopped lists the agent processes ("agent@boot") whose clean
	// stop was taken: none of their reports arms the belief again (the ack
	// disarms them).
	WatchdogStopped []string `json:"watchdog_stopped,omitempty"`
	// WatchdogIsolation and WatchdogTimeout are the agent's timeouts the
	// armed watchdog was counted with: a successor whose safe time assumes
	// shorter ones does not count it.
	WatchdogIsolation time.Duration `json:"watchdog_isolation_ns,omitempty"`
	WatchdogTimeout   time.Duration `json:"watchdog_timeout_ns,omitempty"`
	// Moving: Nova accepted their evacuation, not yet seen ACTIVE elsewhere.
	Moving []string `json:"moving,omitempty"`
	// UnfenceDue, UnfenceErr: the host's last unfence failed (why) and is
	// retried then (no incident): a new leader retries it too, or the host
	// runs and never writes its disks again.
	// Stopped: instances Nova showed SHUTOFF during the incident.
	Stopped []string `json:"stopped,omitempty"`
	// FenceLost: why the executor found the fence lifted (the fence on
	// record no longer holds).
	FenceLost string `json:"fence_lost,omitempty"`
	// CopyElsewhere: instances held because another host runs them
	// (alert evacuate-copy-elsewhere), and that host: a successor holds
	// them until that host is fenced or tells it that it runs no copy.
	CopyElsewhere map[string][]string `json:"copy_elsewhere,omitempty"`
	UnfenceDue    time.Time           `json:"unfence_due,omitzero"`
	UnfenceErr    string              `json:"unfence_err,omitempty"`
	// FenceRecords are the executor's records of what the fences of the
	// host's current episode did (every level's, failed ones' too: a
	// blocklist added half way), in force until lifted; LiftRecords those
	// an unfence was sent for, kept until one succeeds. A new leader
	// renews and lifts from them: a Ceph device removes only the entries
	// they say vigil added.
	FenceRecords []json.RawMessage `json:"fence_records,omitempty"`
	LiftRecords  []json.RawMessage `json:"lift_records,omitempty"`
	// FenceSince and LiftSince: when the first incident whose fences are
	// in force, or sent for lifting, opened (Action.Since).
	FenceSince time.Time `json:"fence_since,omitzero"`
	LiftSince  time.Time `json:"lift_since,omitzero"`
	// LiftUnmoved: the lift due needs no proof of a reset (Action.Unmoved).
	LiftUnmoved bool `json:"lift_unmoved,omitempty"`
	// RejoinBy, RejoinBoot, RejoinAt: an operator let the rejoining host
	// back (input Rejoin), for that boot, then (phase Rejoining only). A
	// new leader rejoins it without asking again once it sees it clean in
	// that boot.
	RejoinBy   string    `json:"rejoin_by,omitempty"`
	RejoinBoot string    `json:"rejoin_boot,omitempty"`
	RejoinAt   time.Time `json:"rejoin_at,omitzero"`
}

// JudgedFence reports whether a fence of method has no device to read
// back: the engine judged the boot it names dead (an operator's confirm, a
// watchdog's safe time, a reboot's heartbeat).
func JudgedFence(method string) bool {
	return method == "operator" || method == "watchdog" || method == "reboot"
}

// Fence is the proof that a host can no longer write.
type Fence struct {
	At     time.Time `json:"at"`
	Method string    `json:"method"`          // driver, "operator", "watchdog" or "reboot"
	Proof  string    `json:"proof"`           // evidence shown to humans
	By     string    `json:"by,omitempty"`    // operator who confirmed
	Level  int       `json:"level,omitempty"` // topology level that succeeded
	// BootID is the host's boot when a watchdog fence was assumed: an agent
	// answering later from another boot confirms the reset.
	BootID string `json:"boot_id,omitempty"`
	// Refuse, for an operator's confirm, is every other boot of the host
	// heard lately: the operator says the host is off, so none of them may
	// be kept alive (one of them may be the boot that still runs, when the
	// last message heard came late from an ended one).
	Refuse []string `json:"refuse_boots,omitempty"`
}

// refuses reports whether the fence assumes boot dead: no grant, no
// acknowledged stop for it.
func (f *Fence) refuses(boot string) bool {
	return boot != "" && (f.BootID == boot || slices.Contains(f.Refuse, boot))
}

// describe says what fenced the host, once: executors' proofs usually name
// their driver already.
func (f *Fence) describe() string {
	where := f.Method
	if f.Level > 0 {
		where = fmt.Sprintf("level %d (%s)", f.Level, f.Method)
	}
	if f.Proof == "" {
		return "fenced by " + where
	}
	return "fenced by " + where + ": " + f.Proof
}
