package agent

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/safetime"
)

// Contract is one agent process's half of the watchdog contract. Times are
// readings of the host's CLOCK_BOOTTIME (Clock): they count from the boot,
// through suspend, and mean the same to the agent process after a restart.
//
//   - It feeds the watchdog only while it holds a grant from the leader, valid
//     for IsolationTimeout from when it sent the report the grant answers,
//     however late the grant arrives (never from its arrival).
//   - A restarted process resumes from the grant its predecessor held on the
//     same boot (Saved), or starts as isolated; a new boot starts with none.
//   - It names itself, numbers its messages and echoes the ticket its grants
//     hand it, so the leader can tell it from every other process of the host.
//   - A clean stop disarms only once the leader acknowledged that very notice.
//   - Guests start only while it holds a grant that lets them.
//
// It is not safe for concurrent use.
type Contract struct {
	boot, id  string
	isolation time.Duration

	ticket decision.Ticket
	seq    uint64
	sent   map[uint64]time.Duration // send time of recent reports, by Seq
	// expiry: the grant is valid while now < expiry (0: none). guestsTill:
	// the latest grant that let guests start is valid until then.
	expiry, guestsTill time.Duration
	guestsSeq          uint64 // the report whose grant last said whether guests may start
	armed              bool
	watchdogTimeout    time.Duration // what the device read back (LinuxWatchdog.Timeout)
	ungranted          int           // reports in a row no grant answered
	// resumedSent, resumedWd: the predecessor's grant this process resumed
	// (the report's send time, the device timeout it was earned with);
	// resumedExp its expiry, as cut; ownExp the latest expiry of this
	// process's own grants. expiry is the later of the two.
	resumedSent, resumedWd time.Duration
	resumedExp, ownExp     time.Duration
	// leaderWd: the leader's watchdog timeout, as the last grant carried
	// it (0: none said): the device is set no longer.
	leaderWd time.Duration
	// deviceWd: the timeout a process of this boot gave the device
	// (Saved.DeviceTimeout), 0 while none did; saved: what a successor
	// resumes from, as last written.
	deviceWd time.Duration
	saved    Saved
	stopSeq  uint64 // the clean-stop notice waiting for its ack; 0 none
}

// Saved is what a process keeps for its successor on the same boot: the
// grant's expiry. It must never be later than what a grant gave (a restart
// resuming from an older one only resets the host sooner).
type Saved struct {
	BootID string        `json:"boot_id"`
	Expiry time.Duration `json:"expiry_ns"` // CLOCK_BOOTTIME
	// Sent is when the report that grant answered was sent: a successor
	// counts its own isolation timeout from it, never more than Expiry
	// (a successor with a shorter timeout must not feed as long as its
	// predecessor's longer one allowed: the leader counts the safe time
	// with the timeout the successor reports).
	Sent time.Duration `json:"sent_ns,omitempty"`
	// WatchdogTimeout is the device timeout the grant was earned with: a
	// successor that sets a longer one resets the host later after its
	// last feed, and must stop feeding that much sooner.
	WatchdogTimeout time.Duration `json:"watchdog_timeout_ns,omitempty"`
	// DeviceTimeout is the timeout an agent process of this boot gave the
	// device, written before it asked for it (and again with what the
	// device made of it): the device's timeout is set once per boot, and
	// a successor takes the device as it finds it, never asking for
	// another (a device that rounds a different request up would make
	// every ping the safe time allows worth more than the leader counts:
	// the sixteenth review's scenarios/attack16/). It counts, too, for the
	// grant a successor may open the device under. 0: none set yet.
	DeviceTimeout time.Duration `json:"device_timeout_ns,omitempty"`
}

// sentKept bounds how many reports' send times a process remembers: a grant
// for a report older than that is dropped (a fresher one follows).
const sentKept = 64

// NewContract starts the contract of agent process id on boot boot. saved is
// its predecessor's state, if any: used only when it is of the same boot.
// armed says whether the process opened a watchdog (or took over one a
// predecessor left running).
func NewContract(boot, id string, isolation time.Duration, armed bool, saved *Saved) (*Contract, error) {
	if boot == "" || id == "" {
		return nil, fmt.Errorf("agent: contract needs a boot id and an agent process id")
	}
	if isolation <= 0 {
		return nil, fmt.Errorf("agent: isolation_timeout must be positive, got %v", isolation)
	}
	c := &Contract{boot: boot, id: id, isolation: isolation, armed: armed, sent: map[uint64]time.Duration{}}
	if saved != nil && saved.BootID == boot && saved.Sent > 0 {
		// No guests: that is for this process's own grants to say. A
		// state without the send time (an older agent's) is not
		// resumed: the process starts as isolated.
		c.resumedExp = min(saved.Expiry, saved.Sent+isolation)
		c.expiry = c.resumedExp
		c.resumedSent, c.resumedWd = saved.Sent, saved.WatchdogTimeout
		c.saved = *saved
	}
	if saved != nil && saved.BootID == boot {
		c.deviceWd = saved.DeviceTimeout
		if c.deviceWd == 0 {
			// An agent before DeviceTimeout kept only the timeout its
			// grant was earned with: the device has that one.
			c.deviceWd = saved.WatchdogTimeout
		}
		c.saved.BootID, c.saved.DeviceTimeout = boot, c.deviceWd
	}
	return c, nil
}

// SetWatchdogTimeout records the timeout the watchdog device reads back
// (not the one asked for: a device may round it up). Reports carry it, and
// the leader counts the watchdog only when it is no longer than the safe
// time assumes.
//
// A process that resumed a predecessor's grant and sets a longer timeout
// than that grant was earned with feeds that much less of it: the host's
// reset must come no later than the predecessor's would have (the leader
// counts its safe time from that grant), three times over: each ping the
// safe time allows after the grant ends is worth the longer timeout. A
// grant earned with an unknown
// timeout is not resumed at all.
func (c *Contract) SetWatchdogTimeout(d time.Duration) {
	c.watchdogTimeout = d
	c.resumedExp = c.resumedWith(d)
	c.expiry = max(c.resumedExp, c.ownExp)
}

// resumedWith is the resumed grant's expiry once the device's timeout is d.
func (c *Contract) resumedWith(d time.Duration) time.Duration {
	if c.resumedSent == 0 || d <= c.resumedWd {
		return c.resumedExp
	}
	if c.resumedWd == 0 {
		return 0
	}
	// Each of the device's pings the safe time allows after the grant
	// (safetime.WatchdogTimers) is worth the longer timeout now.
	return min(c.resumedExp, c.resumedSent+c.isolation-safetime.WatchdogTimers*(d-c.resumedWd))
}

// expiryWith is the grant's expiry once the device's timeout is d: the cut
// is the resumed grant's only. The process's own grants were earned by
// reports the leader counts no watchdog from until they say the device's
// timeout, and are held no longer than the leader's isolation timeout
// with a device set no longer than its watchdog timeout (Granted, Keeper):
// cutting them too would keep a process that resumed a grant earned with
// no device timeout from ever arming (the seventeenth review).
func (c *Contract) expiryWith(d time.Duration) time.Duration {
	return max(c.resumedWith(d), c.ownExp)
}

// HoldsGrantWith reports whether the process would hold a valid grant now
// with its device's timeout set to d: the check before setting it (a set
// pings the timer, already worth d).
func (c *Contract) HoldsGrantWith(now, d time.Duration) bool { return now < c.expiryWith(d) }

// Opened says the process's watchdog is open and armed with timeout d (as
// the device reads it back): its reports say armed from now on. Only the
// Keeper calls it, under a grant.
func (c *Contract) Opened(d time.Duration) {
	c.armed = true
	c.SetWatchdogTimeout(d)
}

// UngrantedDrop is how many reports in a row may go unanswered before a
// process drops its ticket (Report).
const UngrantedDrop = 3

// Abandoned says the process closed its watchdog device without disarming
// it (its exit path, so that a successor can open it): the timer runs on,
// but this process no longer feeds it, and its later reports must not say
// armed (a successor holds the device and may disarm it).
func (c *Contract) Abandoned() { c.armed = false }

// ID is the agent process's name; Boot its boot id.
func (c *Contract) ID() string   { return c.id }
func (c *Contract) Boot() string { return c.boot }

// Report stamps a report sent now: the process's name, its ticket, the
// next sequence number and whether its watchdog is armed. The rest of self
// is the caller's.
func (c *Contract) Report(now time.Duration, self decision.SelfReport) decision.SelfReport {
	if c.ungranted++; c.ungranted > UngrantedDrop {
		// The leader may refuse this process as stale (it overlapped
		// its successor in a restart): without a ticket it is placed
		// anew, and must echo a new one before its watchdog counts.
		c.ticket = decision.Ticket{}
	}
	c.seq++
	c.sent[c.seq] = now
	delete(c.sent, c.seq-sentKept)
	self.BootID, self.Agent, self.Ticket, self.Seq, self.WatchdogArmed = c.boot, c.id, c.ticket, c.seq, c.armed
	self.IsolationTimeout, self.WatchdogTimeout, self.Stopping = c.isolation, c.watchdogTimeout, c.stopSeq != 0
	return self
}

// Granted takes a grant arriving now. It counts from when the report it
// answers was sent; a grant for another boot, another process's report or a
// report too old to remember changes nothing. It returns the state to keep
// for a successor when the expiry moved.
func (c *Contract) Granted(g decision.Grant) (Saved, bool) {
	if g.BootID != c.boot || g.Agent != c.id {
		return Saved{}, false
	}
	sent, ok := c.sent[g.Seq]
	if !ok {
		return Saved{}, false
	}
	c.ungranted = 0
	if !g.Ticket.IsZero() {
		c.ticket = g.Ticket
	}
	// Never longer than the leader's own isolation timeout: its safe
	// time counts that, and a successor may restore a record counting a
	// predecessor's watchdog while this process feeds (Grant).
	iso := c.isolation
	if g.IsolationTimeout > 0 && g.IsolationTimeout < iso {
		iso = g.IsolationTimeout
	}
	if g.WatchdogTimeout > 0 {
		c.leaderWd = g.WatchdogTimeout
	}
	exp := sent + iso
	c.ownExp = max(c.ownExp, exp)
	if g.Seq >= c.guestsSeq {
		// The word of the grant for the newest report counts, whatever
		// order grants arrive in: an incident holds the host's fence, or
		// vigil has not placed this process yet.
		c.guestsSeq, c.guestsTill = g.Seq, 0
		if g.Guests {
			c.guestsTill = exp
		}
	}
	if exp <= c.expiry {
		return Saved{}, false
	}
	c.expiry = exp
	c.saved = Saved{BootID: c.boot, Expiry: exp, Sent: sent, WatchdogTimeout: c.watchdogTimeout, DeviceTimeout: c.deviceWd}
	return c.saved, true
}

// DeviceTimeout is the timeout a process of this boot gave the device
// (Saved.DeviceTimeout), 0 while none did: the keeper never asks for
// another.
func (c *Contract) DeviceTimeout() time.Duration { return c.deviceWd }

// DeviceSet records that the device's timeout is (or is about to be) d,
// and returns what a successor must resume from: to be written before the
// device is asked for d.
func (c *Contract) DeviceSet(d time.Duration) Saved {
	c.deviceWd = d
	c.saved.BootID, c.saved.DeviceTimeout = c.boot, d
	return c.saved
}

// HoldsGrant reports whether the process holds a valid grant now.
func (c *Contract) HoldsGrant(now time.Duration) bool { return now < c.expiry }

// Feed reports whether the watchdog may be fed now: it is armed and the
// process holds a valid grant. A stopping process feeds too until its
// grant ends, so a slow acknowledgement does not reset a healthy host.
func (c *Contract) Feed(now time.Duration) bool { return c.armed && c.HoldsGrant(now) }

// Isolated reports whether the process's grant has run out: the isolation
// response is due, and the watchdog is no longer fed.
func (c *Contract) Isolated(now time.Duration) bool { return !c.HoldsGrant(now) }

// GuestsUntil is the reading of the clock until which guests may start
// (MayStartGuests): what the Gate answers from.
func (c *Contract) GuestsUntil() time.Duration { return min(c.expiry, c.guestsTill) }

// MayStartGuests is the guest-start gate: a grant that lets guests start,
// still valid.
func (c *Contract) MayStartGuests(now time.Duration) bool {
	return c.HoldsGrant(now) && now < c.guestsTill
}

// Stop begins a clean stop: the notice to send to the leader. The watchdog
// stays armed until Acked.
func (c *Contract) Stop() decision.AgentStopping {
	c.seq++
	c.stopSeq = c.seq
	return decision.AgentStopping{BootID: c.boot, Agent: c.id, Ticket: c.ticket, Seq: c.seq}
}

// Stopping reports whether a clean stop waits for its acknowledgement.
func (c *Contract) Stopping() bool { return c.stopSeq != 0 }

// Acked takes an acknowledgement. It reports whether it is the one this
// process waits for, and then the watchdog may be disarmed (magic close):
// the leader wrote the disarm before it sent the ack. Any other ack (of a
// predecessor's notice, another boot's, an older notice) disarms nothing.
func (c *Contract) Acked(a decision.Ack) bool {
	if c.stopSeq == 0 || a.BootID != c.boot || a.Agent != c.id || a.Seq != c.stopSeq {
		return false
	}
	c.armed, c.stopSeq = false, 0
	return true
}

// LeaderWatchdogTimeout is the leader's watchdog timeout, as the last
// grant carried it (0: no grant said one): the keeper sets the device no
// longer.
func (c *Contract) LeaderWatchdogTimeout() time.Duration { return c.leaderWd }

// Armed reports whether the process's watchdog is armed.
func (c *Contract) Armed() bool { return c.armed }
