package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/decision"
)

// ruleSentences say in words what each rule of the engine means: the rule
// that last moved a host (decision.HostStatus.Rule). HOST stands for the
// host's name. A test checks every rule the engine names is here.
var ruleSentences = map[string]string{
	// Evidence alone (decision/assess.go).
	"not-heard-yet":    "This controller leads since only a short while and has not heard from the host's agent yet: it judges no host before the failover grace has passed.",
	"all-paths-answer": "Its agent answers on every network and reports nova-compute and libvirtd running.",
	"service-down": "Its agent answers on every network, so the host is alive, but a service on it is down: nova-compute or libvirtd by its agent's word, or nova-compute by Nova's (its service list says down). " +
		"Nova's service state alone never fences a host, and a service restart is not a host failure: vigil fences nothing and evacuates nothing while the agent answers, and the guests keep running there.",
	"some-networks-lost": "Its agent answers on some networks but not on all: the host is alive, and a network of it (or that network's path to the controller) is broken.",
	"agent-silent-peers-reach": "Its agent is silent, but its peers reach it on every network: the host is alive and its agent is down. " +
		"While the agent is down the guest-start gate refuses every guest start there, and vigil can neither see its guests nor restart them: start the agent on HOST.",
	"alive-off-network": "The controller reaches it on no network, but it shows life otherwise (a peer reaches it, or its storage heartbeat still advances): it is alive and cut off, and vigil never fences a host it sees alive.",
	"silent":            "Its agent, its peers and its storage heartbeat are all silent, but not yet for dead_after: vigil waits to be sure.",
	"storage-unreadable": "It is silent on every network, and the storage heartbeats cannot be read to tell whether it still writes: vigil fences no host it cannot show dead. " +
		"Restore access to the storage cluster, or, if you know the host is off, say so: vigil confirm HOST --reason TEXT.",
	"power-off-and-silent":  "Its BMC reads the power off and its agent is silent: the host is down.",
	"silent-watchdog-armed": "It has been silent on every path for dead_after while storage heartbeats cannot be read, and its agent last reported an armed watchdog: that watchdog resets it without a grant, and vigil counts the reset as its fence only once the safe time has passed.",
	"all-paths-silent":      "Its agent, its peers and its storage heartbeat have all been silent for dead_after: independent signals agree that the host is dead.",

	// Cluster rules that hold a failed host (decision/cluster.go).
	"failover-grace": "It looks failed, but this controller has just begun to lead (or just regained sight of most hosts): no host is judged before the failover grace has passed, so fresh evidence can arrive first.",
	"observer-blind": "It looks failed, but so do many hosts at once: the controller doubts its own eyes (its network, not theirs) and fences nothing until it sees most hosts again.",
	"paused": "It is failed, but an operator paused vigil (vigil pause): while paused vigil opens no new incident, so it is neither fenced nor are its instances moved. " +
		"The reason below says who paused vigil and why; vigil resume lets its incident open (it is fenced, then evacuated) if it is still failed.",
	"brake": "It is failed, but the mass-failure brake holds it: too many hosts, or too much of one failure domain, failed at once to be independent deaths. " +
		"vigil fences none of them by itself until the count is back within the limits: vigil release HOST lets it fence this one, and vigil confirm HOST says it is off.",
	"fence-slots": "It is failed and waits for a fence slot: max_concurrent_fences fences are running already.",

	// The incident (decision/incident.go, rejoin.go, maintenance.go).
	"fence-before-recovery":  "It is failed: vigil fences it before it moves any instance.",
	"fence-next-level":       "A level of its fencing topology failed: vigil tries the next one.",
	"fence-failed":           "Every level of its fencing topology failed: no instance moves until a fence is verified. vigil retries with a growing wait; if you know the host is off, say so: vigil confirm HOST --reason TEXT.",
	"fence-verified":         "Its fence is verified: the host can run nothing and write nothing.",
	"fence-aborted":          "It was judged failed, but showed life before any fence took effect: vigil did nothing to it.",
	"fence-unreadable":       "Right before evacuating, vigil could not read the host's fence (its BMC or the Ceph monitors do not answer): the evacuations wait until it can, or until you confirm the host is off.",
	"evacuate-after-fence":   "It is fenced: vigil evacuates its instances through Nova.",
	"instances-placed-here":  "Nova now places an instance on this fenced host: vigil evacuates it too.",
	"instance-not-moved":     "Nova places an instance vigil moved on this host again: vigil evacuates it again.",
	"all-evacuated":          "Every instance of it runs elsewhere now; it stays fenced and forced down in Nova until it rejoins cleanly.",
	"host-back":              "Its agent answers again after the fence: vigil lets it rejoin once it runs none of the guests moved away.",
	"fence-undone":           "Its fence was undone (powered on again, or its blocklist lapsed) before every instance moved: vigil stopped evacuating, and the rest stay with the host.",
	"rejoin-silent":          "Its fence was undone and it came back, then fell silent on every path again: vigil fences it again before its held instances move.",
	"clean-rejoin":           "It came back after an incident and runs none of the guests moved away: vigil unfenced it and enabled it in Nova again (under the rejoin policy manual, once an operator said so: vigil rejoin).",
	"rejoin-ready":           "It came back after an incident and is clean: it runs none of the guests moved away, nova-compute runs there, and Nova has listed it since its fence. The rejoin policy is manual: vigil keeps it fenced and forced down in Nova until you let it back: vigil rejoin HOST --reason TEXT.",
	"rejoin-approved":        "An operator let it back (vigil rejoin) while it was clean: vigil unfences it and enables it in Nova at its next tick, if it is still clean then.",
	"rejoin-unclean":         "It was ready to rejoin (or let back by an operator), and is no longer clean: it runs a guest it must not, nova-compute stopped, or its agent fell silent. A rejoin given before is void; once it is clean again vigil says rejoin-ready and waits for a new vigil rejoin HOST.",
	"operator-confirmed":     "An operator confirmed that the host is off: that stands in for a verified fence.",
	"operator-maintenance":   "An operator put it into maintenance.",
	"maintenance-ended":      "An operator took it out of maintenance: its incident resumes where it was.",
	"restored":               "A new leader restored its incident from the journal and carries it on.",
	"restored-without-proof": "A new leader restored its incident from the journal without a fence's proof: vigil fences it again before any instance moves.",
}

// stateSentences say what vigil does next about a host in each state.
var stateSentences = map[decision.State]string{
	decision.Unknown:         "nothing yet: vigil judges it once it hears from it, or once the failover grace has passed.",
	decision.Healthy:         "nothing: all is well.",
	decision.ServiceDegraded: "nothing will be done to it (no fence, no evacuation): the host is alive, and its guests keep running. Bring the service back; vigil sees it return by itself.",
	decision.NetworkDegraded: "nothing will be done to it (no fence, no evacuation): the host is alive. Repair the network; vigil sees it return by itself.",
	decision.Isolated:        "nothing will be done to it by vigil (no fence, no evacuation): the host is alive. Its own agent applies isolation.response once cut off from the leader for isolation.timeout.",
	decision.Suspect:         "vigil watches: it fences only if the silence lasts and independent signals agree.",
	decision.Failed:          "unless it is held (below), vigil fences it, then evacuates its instances.",
	decision.Fencing:         "no instance moves until a fence is verified, or an operator confirms the host is off.",
	decision.Fenced:          "vigil evacuates its instances.",
	decision.Recovering:      "vigil goes on evacuating its instances.",
	decision.Recovered:       "nothing is left to move; it rejoins once it runs none of the moved guests.",
	decision.Rejoining:       "vigil unfences it and enables it in Nova again once it runs none of the moved guests (under the rejoin policy manual, once it is clean and you say so: vigil rejoin HOST).",
	decision.Maintenance:     "nothing: an operator owns it until maintenance ends (vigil maintenance off HOST).",
}

// printExplain says in words what the controller knows of a host.
func printExplain(env Env, d api.HostDetail) error {
	h := d.Host
	var b strings.Builder
	para := func(s string) { b.WriteString(wrap("", strings.ReplaceAll(s, "HOST", h.Name), 80, "") + "\n") }
	since := "since a time it does not know"
	if !h.Since.IsZero() {
		since = fmt.Sprintf("since %s (%s)", h.Since.UTC().Format("2006-01-02 15:04:05 UTC"), ago(d.At, h.Since))
	}
	fmt.Fprintf(&b, "%s: %s %s, rule %s.\n", h.Name, h.State, since, h.Rule)
	b.WriteString("\n")
	if s, ok := ruleSentences[h.Rule]; ok {
		para("Why: " + s)
	} else {
		para("Why: the rule " + h.Rule + " (this vigil's CLI has no words for it: see docs/scenarios.md).")
	}
	if s, ok := stateSentences[h.State]; ok {
		para("Next: " + s)
	}
	b.WriteString("\n")
	switch {
	case h.State == decision.Maintenance:
		para("Held: in maintenance, by an operator.")
	case h.Held && h.Reason != "":
		para("Held: vigil does not act on it without an operator: " + h.Reason)
	case h.Held:
		para("Held: vigil does not act on it without an operator (the rule above says why).")
	default:
		para("Held: no.")
	}
	if f := h.Fence; f != nil {
		s := "Fence: " + f.Method
		if f.Level > 0 {
			s += fmt.Sprintf(" (level %d)", f.Level)
		}
		if !f.At.IsZero() {
			s += fmt.Sprintf(", %s", ago(d.At, f.At))
		}
		if f.By != "" {
			s += ", confirmed by " + f.By
		}
		if f.Proof != "" {
			s += ": " + f.Proof
		}
		para(s)
	} else {
		para("Fence: none.")
	}
	if len(h.LeftToOperator) > 0 {
		para("Left to you: " + strings.Join(h.LeftToOperator, ", ") + ": vigil cannot settle these alone (their evacuation keeps failing, was cut short, or their host's agent is silent); look at each in Nova.")
	} else {
		para("Left to you: nothing.")
	}
	if h.Unfence != "" {
		para("Unfence failing: " + h.Unfence + "; vigil retries it.")
	}
	if !h.Seen.At.IsZero() {
		para("Last heard (ages at the leader's last tick): " + heard(h.Seen) + ". Agent by network, storage heartbeat (hb), BMC power, Nova's service state; - is never.")
	}
	if h.Domain != "" {
		para("Failure domain: " + h.Domain + ".")
	}
	if len(d.Events) == 0 {
		b.WriteString("\nNo events of it in this controller's history.\n")
	} else {
		if len(d.Events) == 1 {
			b.WriteString("\nLast event:\n")
		} else {
			fmt.Fprintf(&b, "\nLast %d events, oldest first:\n", len(d.Events))
		}
		writeEvents(&b, d.At, d.Events, false)
	}
	_, err := fmt.Fprint(env.Stdout, b.String())
	return err
}

func printHistory(env Env, h api.History, host string) error {
	var b strings.Builder
	if len(h.Events) == 0 {
		if host == "" {
			host = "any host"
		}
		fmt.Fprintf(&b, "no events of %s in the history of controller %s\n", host, h.Self)
	}
	writeEvents(&b, h.At, h.Events, host == "")
	_, err := fmt.Fprint(env.Stdout, b.String())
	return err
}

// writeEvents writes one event a line (and its evidence under it), with
// its time and age at at; withHost names each event's host.
func writeEvents(b *strings.Builder, at time.Time, evs []api.Event, withHost bool) {
	for _, e := range evs {
		head := fmt.Sprintf("  %s (%s)  ", e.At.UTC().Format("2006-01-02 15:04:05"), ago(at, e.At))
		if withHost {
			head += e.Host + "  "
		}
		b.WriteString(wrap(head, describe(e), 100, "      ") + "\n")
		for _, ev := range e.Evidence {
			b.WriteString(wrap("      - ", ev, 100, "        ") + "\n")
		}
	}
}

// describe says what an event was.
func describe(e api.Event) string {
	switch e.Kind {
	case api.KindTransition:
		return fmt.Sprintf("%s -> %s (%s)", e.From, e.To, e.Rule)
	case api.KindAction:
		s := "vigil decided " + e.Action
		if e.Rule != "" && !strings.Contains(e.Action, "("+e.Rule+")") {
			s += " (" + e.Rule + ")"
		}
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		return s
	case api.KindResult:
		return e.Action + ": " + e.Reason
	case api.KindOperator:
		s := e.By + ": " + e.Action
		if e.Reason != "" {
			s += " (" + e.Reason + ")"
		}
		return s
	}
	return strings.TrimSpace(e.Kind + " " + e.Action + " " + e.Reason)
}

// wrap writes prefix, then s's words, breaking lines at spaces to at most
// width runes; the lines after the first start with indent.
func wrap(prefix, s string, width int, indent string) string {
	var b strings.Builder
	line, empty := prefix, true
	for _, w := range strings.Fields(s) {
		switch {
		case empty:
			line += w
		case len([]rune(line))+1+len([]rune(w)) > width:
			b.WriteString(line + "\n")
			line = indent + w
		default:
			line += " " + w
		}
		empty = false
	}
	b.WriteString(line)
	return b.String()
}
