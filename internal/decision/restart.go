package decision

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// restartRetry is how long vigil waits before it asks again to start a
// guest its gate refused, while the agent still reports it refused.
const restartRetry = 30 * time.Second

// restartSettle: a restart waits this many agent timeouts after an election
// and looks this far back for another host running the guest.
const restartSettle = 10

// restartRefused starts, in place, the guests vigil's own gate refused on
// h. A host that boots while an incident holds its fence (an operator
// powered it on in maintenance, say) gets grants that withhold guests, so
// nova-compute's init_host cannot resume them and Nova puts them in ERROR.
// When the incident ends without moving them (the host rejoined), nothing
// else would ever start them: vigil asks Nova for a hard reboot.
//
// Only where no second copy can run: no other host's agent reported the
// guest running and no other host was seen on its disk lately (a live
// migration that had switched over before h died leaves the guest on the
// destination while Nova still places it on h); h is alive and has no incident (so
// vigil moves nothing off it, and its grants let guests start), the agent
// of this boot reports the start refused and the guest not running, and
// Nova places the instance on h with no task state (no evacuation or
// migration in flight; one that was moved is placed elsewhere). An
// instance handed to an operator when an incident closed is left alone.
func (e *Engine) restartRefused(now time.Time, h *host, a assessment) {
	h.restartWait = nil
	if h.inc != nil || h.maintenance {
		return
	}
	e.waitsForNova(now, h, a)
	if len(h.self.Refused) == 0 {
		return
	}
	if !h.lastGuests || h.watchdogUnsaved != unsavedNone {
		return // its grants hold guests back: the gate would refuse the start again
	}
	if now.Sub(e.leaderSince) < restartSettle*e.cfg.AgentTimeout {
		return // a new leader has not heard every host that may run the guest yet
	}
	switch a.state {
	case Healthy, ServiceDegraded, NetworkDegraded:
	default:
		return
	}
	if !fresh(h.selfAt, now, e.cfg.AgentTimeout) || !fresh(h.novaAt, now, e.cfg.AgentTimeout) || !h.nova.Up || h.nova.ForcedDown || h.self.GuestsUnknown {
		return
	}
	var todo []string
	for _, in := range h.self.Refused {
		st := h.nova.Status[in]
		switch {
		case slices.Contains(h.self.Domains, in), !slices.Contains(h.nova.Instances, in):
		case st != NovaError && st != NovaActive:
		case e.unresolved[in] != "":
		case e.runsElsewhere(now, h, in):
			e.alert(h, "restart-copy-elsewhere", fmt.Sprintf("%s's start was refused on %s and Nova still places it there, but another host runs it or writes its disk (a live migration that had switched over?): vigil does not restart it; check where %s really runs and fix its placement in Nova", in, h.Name, in))
		case now.Sub(h.restartAt[in]) < restartRetry:
		default:
			todo = append(todo, in)
		}
	}
	if len(todo) == 0 {
		return
	}
	for _, in := range todo {
		h.restartAt[in] = now
	}
	e.emit(Action{Kind: ActRestart, Host: h.Name, Instances: todo, Rule: "restart-refused",
		Reason: fmt.Sprintf("the guest-start gate refused %s on %s (boot %s) while an incident held its fence; the incident is over and nothing moved them: hard reboot in place",
			strings.Join(todo, ", "), h.Name, h.self.BootID)})
}

// runsElsewhere reports whether a host other than h, not fenced, was last
// seen running instance in or writing its disk (seenWith, however long
// ago), or lately could not say what it runs.
func (e *Engine) runsElsewhere(now time.Time, h *host, in string) bool {
	for _, o := range e.hosts {
		if o == h || e.fenceHolds(now, o) {
			continue
		}
		if o.seenWith(in, now) || fresh(o.selfAt, now, e.cfg.AgentTimeout*restartSettle) && o.self.GuestsUnknown {
			return true
		}
	}
	return false
}

// waitsForNova finds the instances Nova says run on a live host h that
// its agent does not run (the host rebooted, or their start was refused)
// while nova-compute is not running there: nothing but nova-compute can
// start them, and no other host runs them. It alerts, and lists them as
// the operator's (Status.LeftToOperator) until nova-compute runs.
func (e *Engine) waitsForNova(now time.Time, h *host, a assessment) {
	switch a.state {
	case Healthy, ServiceDegraded, NetworkDegraded:
	default:
		return
	}
	if !fresh(h.selfAt, now, e.cfg.AgentTimeout) || !fresh(h.novaAt, now, e.cfg.AgentTimeout) || h.self.GuestsUnknown ||
		h.self.NovaCompute.Running && h.nova.Up || now.Sub(e.leaderSince) < restartSettle*e.cfg.AgentTimeout {
		return
	}
	for _, in := range h.nova.Instances {
		st := h.nova.Status[in]
		if (st == NovaActive || st == NovaError) && !slices.Contains(h.self.Domains, in) && e.unresolved[in] == "" && !e.runsElsewhere(now, h, in) {
			h.restartWait = append(h.restartWait, in)
		}
	}
	if len(h.restartWait) > 0 {
		e.alert(h, "guests-wait-for-nova", fmt.Sprintf("Nova says %s run on %s, but its agent runs none of them (the host rebooted, or vigil's gate refused their start) and nova-compute is not running there: nothing can start them; start nova-compute on %s (it resumes them, or vigil hard-reboots them), or start them by hand", strings.Join(h.restartWait, ", "), h.Name, h.Name))
	}
}
