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

// stopWait is how long a clean stop waits for the leader's
// acknowledgement before the process exits with the watchdog running
// (daemon.StopWait).
const stopWait = 10 * time.Second

// watchdog runs the agent's keeper (vigil's own code: it opens the device
// on a grant, feeds it under one) and the hardware watchdog, a model of
// Linux's watchdog core (agent.KernelWatchdog: the kernel pings it when
// the process holding it exits without the magic close).
func (w *World) watchdog(h *Host, tick bool) {
	wd := w.cfg.Watchdog
	if wd == nil || !h.On {
		return
	}
	if h.keeper != nil && w.stopping(h) && !h.Running(Agent) && w.now >= h.stopAt+stopWait && !h.Hung && !h.UserHung {
		// The clean stop nobody acknowledged gives up: the process
		// exits, closing the device without the magic (a ping).
		_ = h.keeper.Abandon()
		h.keeper = nil
		w.event(h.Name, "agent stop not acknowledged within %v: the agent exits, its watchdog running", stopWait)
	}
	if tick && h.keeper != nil && (h.Running(Agent) || w.stopping(h) && !h.Hung && !h.UserHung) {
		_, _ = h.keeper.Tick(w.clock(h)) // a device error leaves it unarmed: the contract says so
	}
	// The hardware timer runs on, hung kernel or crashed agent or not.
	active, last, timeout := h.dev.Active()
	if active && w.now-last >= w.local(h, timeout) {
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

// CrashProc kills a process without letting it clean up: a crashed agent's
// watchdog device is closed by the kernel without the magic, which pings
// the timer once more, and the timer runs on.
func (w *World) CrashProc(h *Host, p Proc) {
	if !h.procs[p] {
		return
	}
	h.procs[p] = false
	if p == Agent {
		w.exitAgent(h)
	}
	w.event(h.Name, "%s crashed", p)
}

// exitAgent ends h's agent process (and a stopping one that lingers): the
// kernel closes the device it holds, without the magic.
func (w *World) exitAgent(h *Host) {
	if h.keeper != nil && h.keeper.Holds() {
		h.dev.Exit()
	}
	h.keeper = nil
}

// stallTouch models a process stopped between the check that allowed a
// touch of its watchdog and the touch: a hang that begins right after a
// feed was decided, whose write lands when the hang clears (the bound in
// docs/architecture.md, "The device itself", counts one such touch).
func (w *World) stallTouch(h *Host, hung bool) {
	if hung {
		h.lateTouch = h.keeper != nil && h.keeper.Holds() && h.agent.Feed(w.clock(h))
		return
	}
	if h.lateTouch && h.On && h.keeper != nil && h.keeper.Holds() {
		h.dev.LateWrite()
		w.event(h.Name, "a watchdog feed decided before the hang lands after it")
	}
	h.lateTouch = false
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
	if w.cfg.Watchdog == nil || h.agent == nil || h.keeper == nil {
		return
	}
	h.stopAt = w.now
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
	if !h.On || h.agent == nil || h.keeper == nil {
		return
	}
	if ok, _ := h.keeper.Acked(a); !ok {
		return
	}
	h.keeper = nil // the process exits
	w.event(h.Name, "agent stop acknowledged by the leader: watchdog disarmed")
}

// startAgent starts a new agent process: a new name, no ticket, counting
// its messages afresh, resuming from what its predecessor kept for this boot
// (the grant's expiry), with vigil's own keeper: it opens the device on its
// first valid grant, never before. A predecessor still stopping exits first
// (a supervisor starts the next process after the last one ended), closing
// the device it holds.
func (w *World) startAgent(h *Host) {
	w.exitAgent(h)
	h.agentNo++
	wd := w.cfg.Watchdog
	iso, timeout := 10*time.Second, 10*time.Second
	if wd != nil {
		iso, timeout = wd.IsolationTimeout, wd.WatchdogTimeout
	}
	if h.agentWd > 0 {
		timeout = h.agentWd
	}
	if h.agentIso > 0 {
		iso = h.agentIso
	}
	c, err := agent.NewContract(bootID(h), agentID(h), iso, false, &h.saved)
	if err != nil {
		panic(err) // the scenario loader validated the timeout
	}
	h.agent = c
	if wd == nil {
		return
	}
	var dev agent.Device
	if !h.noWatchdog {
		h.dev.Round = nil
		if h.wdLong {
			h.dev.Round = func(d time.Duration) time.Duration { return 2 * d } // the device rounds it up
		}
		dev = h.dev
	}
	k, err := agent.NewKeeper(c, dev, timeout, func() time.Duration { return w.clock(h) }, agent.RespondNone, nil)
	if err != nil {
		panic(err)
	}
	k.SaveWith(func(s agent.Saved) error { h.saved = s; return nil }) // the state file, written before the set
	h.keeper = k
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
