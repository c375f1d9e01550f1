package decision

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// assessment is the live state the evidence supports, and the rule that said so.
type assessment struct {
	state State
	rule  string
}

// assess judges a host from evidence alone. It allocates nothing; evidence()
// explains the same judgement in words when a transition needs it.
func (e *Engine) assess(h *host, now time.Time) assessment {
	n := len(e.cfg.Networks)
	if h.lastAgent().IsZero() && now.Before(e.leaderSince.Add(e.cfg.FailoverGrace)) {
		return assessment{Unknown, "not-heard-yet"}
	}
	agentOK := 0
	for i := 0; i < n; i++ {
		if fresh(h.agentAt[i], now, e.cfg.AgentTimeout) {
			agentOK++
		}
	}
	if e.quietPowerOff(h, now) {
		return assessment{Failed, "power-off-and-silent"}
	}
	if agentOK == n {
		if novaDown(h, now, e) || !h.self.NovaCompute.Running || !h.self.Libvirtd.Running {
			return assessment{ServiceDegraded, "service-down"}
		}
		return assessment{Healthy, "all-paths-answer"}
	}
	if agentOK > 0 {
		if h.inc == nil && now.Before(e.leaderSince.Add(e.cfg.FailoverGrace)) {
			// A network not heard at all in this term is not yet known
			// lost: its first report may wait on this leader's challenge.
			// (A host in an incident shows life at once, as before.)
			for i := 0; i < n; i++ {
				if h.agentAt[i].IsZero() {
					return assessment{Unknown, "not-heard-yet"}
				}
			}
		}
		return assessment{NetworkDegraded, "some-networks-lost"}
	}
	// Peers and storage prove life only when they saw it well after the
	// agent's last word (half an agent timeout: at least one missed report);
	// older news is the same silence, not a second opinion.
	last := h.lastAgent()
	after := last.Add(e.cfg.AgentTimeout / 2)
	peerOK := 0
	for i := 0; i < n; i++ {
		if fresh(h.peerAt[i], now, e.cfg.PeerTimeout) && h.peerAt[i].After(after) {
			peerOK++
		}
	}
	if peerOK == n {
		return assessment{ServiceDegraded, "agent-silent-peers-reach"}
	}
	storageAlive := fresh(h.storageMoved, now, e.cfg.StorageTimeout) && h.storageMoved.After(after)
	if storageAlive && peerOK == 0 {
		if _, ok := e.rebootProof(h, now); ok {
			// The heartbeat is a new boot's, which runs nothing: the
			// boot vigil knows is as silent as the rest says.
			storageAlive = false
		}
	}
	if storageAlive || peerOK > 0 {
		return assessment{Isolated, "alive-off-network"}
	}
	silence := now.Sub(last)
	if last.IsZero() {
		silence = now.Sub(e.leaderSince)
	}
	if h.answeredAt.After(last) {
		// It answered the fence probe: silent only since then.
		silence = now.Sub(h.answeredAt)
	}
	// Peers and the heartbeat that proved it alive after the agent's last
	// word (above, while fresh) are life too: the host is silent only since
	// the last of them, so dead_after counts the silence of every path, not
	// the agent's alone (a host cut off long ago, alive behind its storage,
	// whose heartbeat pauses for a storage timeout, is not dead at once).
	for i := 0; i < n; i++ {
		if h.peerAt[i].After(after) {
			silence = min(silence, now.Sub(h.peerAt[i]))
		}
	}
	if moved := h.heartbeatMoved(); moved.After(after) {
		if _, ok := e.rebootProof(h, moved); !ok {
			silence = min(silence, now.Sub(moved))
		}
	}
	bmcOff := h.bmc == PowerOff && fresh(h.bmcAt, now, e.cfg.BMCFreshness)
	storageKnown := fresh(e.storageReadAt, now, e.cfg.StorageTimeout)
	switch {
	case bmcOff && silence >= e.cfg.AgentTimeout:
		return assessment{Failed, "power-off-and-silent"}
	case silence < e.cfg.DeadAfter:
		return assessment{Suspect, "silent"}
	case !storageKnown && !e.watchdogTrusted(h):
		return assessment{Suspect, "storage-unreadable"}
	case !storageKnown:
		// The heartbeat would only tell whether the host still runs; its
		// armed watchdog resets it without a grant whether it runs or
		// not, and the incident counts it as the fence only after the
		// safe time since the last grant.
		return assessment{Failed, "silent-watchdog-armed"}
	default:
		return assessment{Failed, "all-paths-silent"}
	}
}

// quiet reports whether h's agent has missed a report on every network:
// none heard for half an agent timeout (1.5 s at the defaults, one report
// interval and a half). The controllers then read its power (HostStatus.Quiet,
// executor.PowerEvery), so that a power loss is seen at once rather than
// after the agent timeout.
func (e *Engine) quiet(h *host, now time.Time) bool {
	last := h.lastAgent()
	return !last.IsZero() && now.Sub(last) >= e.cfg.AgentTimeout/2
}

// quietPowerOff is the fast path of a power loss: the host has shown no
// sign of life of any kind (the agent's word, a peer's reach, the storage
// heartbeat, an answer to the fence probe) for half an agent timeout, its
// agent had not announced a clean stop (a restart), and its BMC, asked
// after every sign of life, reads the power off.
// Two independent signals agree (the BMC's reading, the agent's silence);
// the incident's fence then powers it off and verifies, which a host that
// still runs fails (its agent or the probe answers). A reading older than
// the last report proves nothing: the host spoke after it.
func (e *Engine) quietPowerOff(h *host, now time.Time) bool {
	if !e.quiet(h, now) || h.bmc != PowerOff || !fresh(h.bmcAt, now, e.cfg.BMCFreshness) {
		return false
	}
	if !e.listenedSince.IsZero() && now.Sub(e.listenedSince) < e.cfg.AgentTimeout {
		// The loop has not listened for an agent timeout since it
		// stalled: the quiet may be its own deafness.
		return false
	}

	switch {
	case h.state == Isolated, h.state == Suspect, h.state == Unknown,
		h.state == ServiceDegraded && h.rule == "agent-silent-peers-reach":
		// Judged, before it went quiet, as a host the controllers do not
		// hear (cut off, its agent dead, silent, not heard yet): its
		// quiet is no sudden stop of every path, which the fast path
		// reads as a power loss. The slower rules judge it.
		return false
	}
	if h.self.Stopping || h.hasStopped(h.self.BootID, h.self.Agent) {
		// Its agent said it stops cleanly: the silence is a restart,
		// which is never a host failure; a BMC reading off then waits
		// out the agent timeout like any other.
		return false
	}
	// The reading must be later than every sign of life: the agent's
	// last word, a peer's reach, the storage heartbeat's last move (dated
	// by the read that saw it), an answer to the fence probe. A host can
	// die after any of them; it cannot be off before them.
	// And every one of them must be as old as the agent's silence: a
	// host that a peer reached, or whose heartbeat moved, within half an
	// agent timeout is not quiet, whatever its agent says (it crashed, it
	// is cut from the controllers and writes its storage still), and a
	// BMC that lies "off" must not fail it at its next reading.
	life := h.lastAgent()
	for _, at := range h.peerAt {
		life = later(life, at)
	}
	life = later(later(life, h.storageMoved), h.answeredAt)
	if life.Sub(h.lastAgent()) > e.cfg.AgentTimeout {
		// A power loss stops every path within a moment (the last
		// peer's report and the last heartbeat's read trail the
		// agent's last word by a second or two). Here the rest outlived
		// the agent by more than an agent timeout: it fell silent first
		// (cut off, isolated behind its storage, crashed), and a short
		// pause of what is left (an agent restart stops its heartbeat,
		// the controllers' own storage hiccup) is no power loss. The
		// rest of the evidence judges it, with timeouts such a pause
		// does not outlast.
		return false
	}
	return h.bmcAt.After(life) && now.Sub(life) >= e.cfg.AgentTimeout/2
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// rebootProof reports whether h's storage heartbeat proves that the boot
// vigil knows of it has ended and that the boot running now starts nothing
// vigil may start elsewhere, and says so in words. The records must come
// from a boot this leader never heard of (no report of it, not the boot
// its records name), for a storage timeout at least without a record of
// another boot in between, once this leader has led longer than an
// isolation timeout (a predecessor's grant to that boot has ended), and
// say that boot runs no guest behind an installed guest-start gate: no
// guest starts there without a grant that lets guests start, and vigil
// gives none while an incident holds the host's fence, nor to a boot
// before it has written down that it placed it (grant.go). A host whose
// old boot still runs writes that boot's records; two writers under one
// name alternate, and prove nothing while the reads catch it.
func (e *Engine) rebootProof(h *host, now time.Time) (string, bool) {
	b := h.storageBoot
	known := rebootBoot(h)
	iso := e.cfg.IsolationTimeout
	switch {
	case b.BootID == "" || known == "" || iso == 0:
		return "", false
	case b.BootID == h.self.BootID || b.BootID == h.grantBoot || b.BootID == h.echoedBoot || b.BootID == h.recordBoot:
		return "", false
	case !h.boots[b.BootID].IsZero():
		// This leader heard it (a late message of an ended boot may
		// have replaced it as the last word since): it may hold a
		// grant of ours that lets guests start.
		return "", false
	case now.Sub(e.leaderSince) < iso+iso/10+time.Second:
		// A predecessor may have granted it guests before this leader
		// began: such a grant lasts an isolation timeout at most.
		return "", false
	case b.Guests != 0 || !b.Gated:
		return "", false
	case !fresh(h.storageMoved, now, e.cfg.StorageTimeout) || now.Sub(h.storageBootSince) < e.cfg.StorageTimeout:
		return "", false
	}
	return fmt.Sprintf("boot %s has ended: since %s the host's storage heartbeat comes from boot %s, which runs no guest and whose guest-start gate is installed (no guest starts there without vigil's grant)",
		known, h.storageBootSince.Format("15:04:05.0"), b.BootID), true
}

// rebootBoot is the boot a reboot proof says has ended.
func rebootBoot(h *host) string {
	if h.self.BootID != "" {
		return h.self.BootID
	}
	return h.grantBoot
}

// watchdogTrusted reports whether vigil may count h's watchdog as a fence
// once the safe time has passed: self-fencing is configured and h's boot
// last reported its watchdog armed.
func (e *Engine) watchdogTrusted(h *host) bool { return e.cfg.SelfFenceAfter > 0 && h.grantArmed }

func novaDown(h *host, now time.Time, e *Engine) bool {
	return !h.novaAt.IsZero() && (!h.nova.Up || h.nova.ForcedDown)
}

// evidence lists, in words, what the engine knows about h at now.
func (e *Engine) evidence(h *host, now time.Time) []string {
	var ev []string
	age := func(t time.Time) string { return now.Sub(t).Round(100 * time.Millisecond).String() }
	var ok, lost, missed []string
	quiet := e.quietPowerOff(h, now)
	for i, net := range e.cfg.Networks {
		switch {
		case h.agentAt[i].IsZero():
			lost = append(lost, net+" (never heard)")
		case fresh(h.agentAt[i], now, e.cfg.AgentTimeout) && quiet:
			missed = append(missed, net+" (silent "+age(h.agentAt[i])+")")
		case fresh(h.agentAt[i], now, e.cfg.AgentTimeout):
			ok = append(ok, net)
		default:
			lost = append(lost, net+" (silent "+age(h.agentAt[i])+")")
		}
	}
	if len(ok) > 0 {
		ev = append(ev, "agent answers on "+strings.Join(ok, ", "))
	}
	if len(missed) > 0 {
		ev = append(ev, "agent missed its last report on "+strings.Join(missed, ", "))
	}
	if len(lost) > 0 {
		ev = append(ev, "agent lost on "+strings.Join(lost, ", "))
	}
	if len(ok) < len(e.cfg.Networks) {
		var peers, before []string
		for i, net := range e.cfg.Networks {
			if !fresh(h.peerAt[i], now, e.cfg.PeerTimeout) {
				continue
			}
			p := fmt.Sprintf("%s (by %s %s ago)", net, h.peerBy[i], age(h.peerAt[i]))
			if quiet {
				before = append(before, p)
			} else {
				peers = append(peers, p)
			}
		}
		switch {
		case len(peers) > 0:
			ev = append(ev, "peers reach it on "+strings.Join(peers, ", "))
		case len(before) > 0:
			ev = append(ev, "peers last reached it on "+strings.Join(before, ", ")+", before the BMC's reading")
		default:
			ev = append(ev, "no peer reaches it on any network")
		}
		proof, rebooted := e.rebootProof(h, now)
		switch {
		case !fresh(e.storageReadAt, now, e.cfg.StorageTimeout):
			ev = append(ev, "storage heartbeats unreadable")
		case !h.storageSeen:
			ev = append(ev, "no storage heartbeat ever seen")
		case quiet:
			ev = append(ev, fmt.Sprintf("storage heartbeat last moved (%d) %s ago, before the BMC's reading", h.storageCounter, age(h.storageMoved)))
		case rebooted:
			ev = append(ev, fmt.Sprintf("storage heartbeat advancing (%d), but %s", h.storageCounter, proof))
		case fresh(h.storageMoved, now, e.cfg.StorageTimeout) && h.storageMoved.After(h.lastAgent().Add(e.cfg.AgentTimeout/2)):
			ev = append(ev, fmt.Sprintf("storage heartbeat advancing (%d)", h.storageCounter))
		case fresh(h.storageMoved, now, e.cfg.StorageTimeout):
			ev = append(ev, fmt.Sprintf("storage heartbeat last moved (%d) %s ago, no later than the agent's last word", h.storageCounter, age(h.storageMoved)))
		default:
			ev = append(ev, fmt.Sprintf("storage heartbeat stalled at %d for %s", h.storageCounter, age(h.storageMoved)))
		}
		if !h.bmcAt.IsZero() {
			ev = append(ev, fmt.Sprintf("BMC reads %s (%s ago)", h.bmc, age(h.bmcAt)))
		}
		var writing []string
		for in, t := range h.writers {
			if now.Sub(t) < 2*e.cfg.StorageTimeout {
				writing = append(writing, in)
			}
		}
		if len(writing) > 0 {
			sort.Strings(writing)
			ev = append(ev, "disk watchers from this host on "+strings.Join(writing, ", ")+" (may linger ~30 s after a crash)")
		}
	}
	if !h.selfAt.IsZero() {
		if !h.self.NovaCompute.Running {
			ev = append(ev, "agent: nova-compute not running")
		}
		if !h.self.Libvirtd.Running {
			ev = append(ev, "agent: libvirtd not running")
		}
		if r := h.self.NovaCompute.Restarts + h.self.Libvirtd.Restarts; r > 0 {
			ev = append(ev, fmt.Sprintf("agent: %d service restarts seen", r))
		}
		if len(h.self.Domains) > 0 && len(ok) > 0 {
			ev = append(ev, fmt.Sprintf("agent: %d guests running", len(h.self.Domains)))
		}
	}
	if !h.novaAt.IsZero() {
		s := "up"
		if !h.nova.Up {
			s = "down"
		}
		if h.nova.ForcedDown {
			s += ", forced down"
		}
		if h.nova.Disabled {
			s += ", disabled"
		}
		ev = append(ev, "nova: "+s+" (weakest signal)")
	}
	return ev
}
