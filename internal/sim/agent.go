package sim

import (
	"fmt"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"
	"github.com/vigil-ha/vigil/internal/decision"
)

// The agent's half of the watchdog contract (docs/architecture.md): it
// feeds its host's hardware watchdog only while it holds a fresh grant from
// the leader, counted from when it sent the report the grant answers; the
// grant's expiry survives an agent restart (persisted with the boot) and dies
// with the boot; a clean stop disarms only once the leader acknowledged it;
// guests do not start on a host whose agent holds no fresh grant.

// route is how one agent report reaches the controllers: directly on some
// networks, or relayed by a peer that holds a fresh grant itself.
type route struct {
	direct []string // networks on which the host reaches the controllers
	via    *Host    // relaying peer when direct is empty
	viaNet string   // network between the host and the relay
}

func (r route) ok() bool { return len(r.direct) > 0 || r.via != nil }

// route finds the path of h's next report. i is h's index in w.Hosts.
func (w *World) route(h *Host, i int) route {
	var r route
	for _, net := range w.cfg.Networks {
		if w.reachCtl(h, net) {
			r.direct = append(r.direct, net)
		}
	}
	if len(r.direct) > 0 {
		return r
	}
	for k := 1; k < len(w.Hosts); k++ {
		p := w.Hosts[(i+k)%len(w.Hosts)]
		if !p.Running(Agent) || !w.granted(p) || !w.reachesCtl(p) {
			continue
		}
		for _, net := range w.cfg.Networks {
			if w.reach(h, p, net) {
				r.via, r.viaNet = p, net
				return r
			}
		}
	}
	return r
}

// reachesCtl reports whether h reaches the controllers on any network.
func (w *World) reachesCtl(h *Host) bool {
	for _, net := range w.cfg.Networks {
		if w.reachCtl(h, net) {
			return true
		}
	}
	return false
}

// granted reports whether h's agent holds a fresh grant now.
func (w *World) granted(h *Host) bool {
	return w.cfg.Watchdog != nil && h.agent != nil && h.agent.HoldsGrant(w.clock(h))
}

// clock is h's CLOCK_BOOTTIME now, as its agent reads it: real time at the
// host's clock rate.
func (w *World) clock(h *Host) time.Duration {
	if h.rate == 0 || h.rate == 1 {
		return w.now
	}
	return time.Duration(float64(w.now) * h.rate)
}

// grantReply is a grant reaching h's agent. Its contract counts it from
// when it sent the report the grant answers, and only a grant for its own
// process's report counts; what it keeps for a successor moves with it.
func (w *World) grantReply(h *Host, boot int, g decision.Grant) {
	if w.cfg.Watchdog == nil || !h.Running(Agent) || h.Boot != boot || h.agent == nil {
		return
	}
	if saved, ok := h.agent.Granted(g); ok {
		h.saved = saved
	}
}

// local converts a duration the host measures on its own clock into real
// (world) time: a fast clock (rate > 1) ends it early.
func (w *World) local(h *Host, d time.Duration) time.Duration {
	if h.rate == 0 || h.rate == 1 {
		return d
	}
	return time.Duration(float64(d) / h.rate)
}

// watchdog runs the agent's feeding and the hardware watchdog.
func (w *World) watchdog(h *Host, tick bool) {
	wd := w.cfg.Watchdog
	if wd == nil || !h.On || !h.armed {
		return
	}
	if tick && (h.Running(Agent) || w.stopping(h)) && h.agent != nil && h.agent.Feed(w.clock(h)) {
		h.fedAt = w.now
	}
	// The hardware timer runs on, hung kernel or crashed agent or not.
	timeout := h.wdTimeout
	if timeout == 0 {
		timeout = wd.WatchdogTimeout
	}
	if w.now-h.fedAt >= w.local(h, timeout) {
		w.PowerOff(h, "watchdog reset: no grant, nothing fed it")
		reboot := wd.RebootTime
		if reboot <= 0 {
			reboot = 60 * time.Second
		}
		h.bootAt = w.now + reboot
	}
}

// gateWait is how long the guest-start gate holds a start waiting for the
// agent's first grant before it refuses (the hook blocks libvirt's start).
const gateWait = 60 * time.Second

// mayStartGuests is the guest-start gate (a libvirt qemu hook on a real
// host): with the watchdog contract in force, no guest starts on a host whose
// agent holds no fresh grant, so a host that booted while cut off cannot run
// guests after the leader's safe time; nor while the leader's grant says an
// incident holds the host's fence (its instances may be starting elsewhere).
func (w *World) mayStartGuests(h *Host) bool {
	return w.cfg.Watchdog == nil || (h.agent != nil && h.agent.MayStartGuests(w.clock(h)))
}

// CrashProc kills a process without letting it clean up: a crashed agent
// leaves its watchdog device open, so the hardware timer keeps running.
func (w *World) CrashProc(h *Host, p Proc) {
	if !h.procs[p] {
		return
	}
	h.procs[p] = false
	w.event(h.Name, "%s crashed", p)
}

// stopAgent is a clean agent stop: it sends the leader a stop notice and
// disarms (magic close) only when the acknowledgement comes back, which the
// leader sends once it has persisted the disarm. While it waits it goes on
// feeding the watchdog under the grant it holds, and it takes the
// acknowledgement until the watchdog fires: a slow round trip must not leave
// a healthy host's watchdog running. (A late ack is as safe as a prompt one:
// the leader wrote the disarm before sending it.) Without the
// acknowledgement the watchdog resets the host.
func (w *World) stopAgent(h *Host) {
	if !h.armed || w.cfg.Watchdog == nil || h.agent == nil {
		return
	}
	m := h.agent.Stop()
	m.Host = h.Name
	if w.ctl != nil {
		w.ctl.stopNotice(h, m)
	}
}

// stopping reports whether h's agent is in its clean stop, waiting for the
// leader's acknowledgement.
func (w *World) stopping(h *Host) bool { return h.agent != nil && h.agent.Stopping() }

// ack is the leader's acknowledgement of a stop notice reaching the host. It
// is bound to the stopping agent and the notice it waits for: an agent
// started since then is another process, whose watchdog a late ack of its
// predecessor's notice must not disarm.
func (w *World) ack(h *Host, a decision.Ack) {
	if !h.On || h.agent == nil || !h.agent.Acked(a) {
		return
	}
	h.armed = false
	w.event(h.Name, "agent stop acknowledged by the leader: watchdog disarmed")
}

// startAgent starts a new agent process: a new name, no ticket, counting
// its messages afresh, resuming from what its predecessor kept for this boot
// (the grant's expiry). It opens the watchdog device if it is not open yet
// (which starts its timer); a device left open by a crashed agent or an
// unacknowledged stop stays open, its timer running on, and the new process
// takes it over.
func (w *World) startAgent(h *Host) {
	h.agentNo++
	wd := w.cfg.Watchdog
	if wd != nil && !h.armed && !h.noWatchdog {
		h.armed, h.fedAt, h.wdTimeout = true, w.now, wd.WatchdogTimeout
		if h.wdLong {
			h.wdTimeout = 2 * wd.WatchdogTimeout // the device rounded the timeout up
		}
	}
	iso := 10 * time.Second
	if wd != nil {
		iso = wd.IsolationTimeout
	}
	c, err := agent.NewContract(bootID(h), agentID(h), iso, h.armed, &h.saved)
	if err != nil {
		panic(err) // the scenario loader validated the timeout
	}
	if h.armed {
		c.SetWatchdogTimeout(h.wdTimeout)
	}
	h.agent = c
}

// report sends h's agent report over route r, and handles the grant.
func (c *Controller) report(h *Host, r route, self decision.SelfReport) {
	w := c.w
	boot := h.Boot
	deliver := func() {
		if !c.up() {
			return
		}
		now := c.at()
		var reps []decision.AgentReport
		for _, net := range r.direct {
			reps = append(reps, decision.AgentReport{Host: h.Name, Network: net, Self: self})
		}
		if r.via != nil {
			reps = append(reps, decision.AgentReport{Host: h.Name, Network: r.viaNet, Self: self, Via: r.via.Name})
		}
		var grant decision.Grant
		granted := false
		for _, rep := range reps {
			if g, err := c.loop.Report(now, rep); err == nil {
				if granted {
					g.Guests = g.Guests && grant.Guests
				}
				if g.Ticket.IsZero() {
					g.Ticket = grant.Ticket
				}
				grant, granted = g, true
			}
		}
		if !granted {
			return
		}
		c.after(w.cfg.MessageDelay, func() { w.grantReply(h, boot, grant) })
	}
	c.after(w.cfg.MessageDelay, deliver)
}

// after runs fn after d of message delay, at once when d is zero. Messages
// in flight survive a leader change; the receiver checks what it must.
func (c *Controller) after(d time.Duration, fn func()) {
	if d <= 0 {
		fn()
		return
	}
	c.later(d, func(bool) { fn() })
}

// stopNotice sends h's clean-stop notice over the route a report would
// take; the engine answers with an Ack that apply delivers once persisted.
func (c *Controller) stopNotice(h *Host, m decision.AgentStopping) {
	i := -1
	for j, o := range c.w.Hosts {
		if o == h {
			i = j
		}
	}
	if i < 0 || !c.w.route(h, i).ok() {
		c.w.event(h.Name, "agent stop notice cannot reach the leader: watchdog left running")
		return
	}
	c.after(c.w.cfg.MessageDelay, func() {
		if c.up() {
			c.loop.Step(c.at(), m)
		}
	})
}

func bootID(h *Host) string { return fmt.Sprintf("%s-boot%d", h.Name, h.Boot) }

// agentID names the host's current agent process (a real agent picks a
// random one when it starts).
func agentID(h *Host) string { return fmt.Sprintf("%s-agent%d", h.Name, h.agentNo) }
