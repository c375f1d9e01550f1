package sim

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// The simulated executor: it carries out the engine's actions against the
// simulated world (BMCs, Ceph, Nova) as the real executor does against the
// real ones, reading the fence again before it asks Nova for a second copy
// and polling Nova for the result.

// execute carries out one action of the engine, after the records that
// came with it were written.
func (c *Controller) execute(a decision.Action) {
	w := c.w
	h := w.Host(a.Host)
	if h == nil {
		return
	}
	if c.maintenance[a.Host] && a.Kind != decision.ActAlert && a.Kind != decision.ActRenewFence {
		// (A renewal keeps an incident's fence in force through
		// maintenance: it touches Ceph, not the host.)
		c.violate(a.Host, "%s sent for a host in maintenance", a.Kind)
	}
	switch a.Kind {
	case decision.ActAlert:
		c.Alerts = append(c.Alerts, a)
	case decision.ActFence:
		since := time.Duration(-1)
		if !a.Since.IsZero() {
			since = c.virtual(a.Since)
		}
		c.fence(h, a.Level, a.ProbeAborts, since)
	case decision.ActCancelFence:
		c.cancelled[h.Name] = true
	case decision.ActForceDown:
		_ = w.Nova.ForceDown(h.Name, true)
	case decision.ActReEnable:
		_ = w.Nova.ForceDown(h.Name, false)
	case decision.ActRestart:
		for _, id := range a.Instances {
			if inst := w.Nova.Instances[id]; inst != nil && inst.Host != h.Name {
				continue // Nova places it elsewhere now: not this host's to start
			}
			if err := w.Nova.Reboot(id); err != nil {
				w.event(h.Name, "restart of %s failed: %v", id, err)
			}
		}
	case decision.ActUnfence:
		if w.CtlReachesCeph() {
			since := time.Duration(-1)
			if !a.Since.IsZero() {
				since = c.virtual(a.Since)
			}
			w.BlocklistRemove(h, blocklistRecords(a.Records), since, w.cfg.BlocklistExpire)
			c.step(decision.UnfenceResult{Host: h.Name, OK: true})
		} else {
			w.event(h.Name, "unfence failed: ceph monitors unreachable from the controllers; the blocklist entries stay")
			c.step(decision.UnfenceResult{Host: h.Name, Err: "ceph monitors unreachable"})
		}
	case decision.ActRenewFence:
		switch {
		case !w.CtlReachesCeph():
			w.event(h.Name, "fence renewal failed: ceph monitors unreachable from the controllers")
			c.step(decision.RenewResult{Host: h.Name, Err: "ceph monitors unreachable"})
		default:
			lapsed, added := w.BlocklistRenew(h, w.cfg.BlocklistExpire, blocklistRecords(a.Records))
			if !lapsed {
				c.step(decision.RenewResult{Host: h.Name, OK: true})
				break
			}
			// The entries re-added are vigil's: the records after the
			// renewal are the old ones and this one.
			recs := append(slices.Clone(a.Records), marshalRecord(added))
			c.step(decision.RenewResult{Host: h.Name, OK: true, Lapsed: true, Err: "the host's entry was gone", Records: recs})
		}
	case decision.ActEvacuate:
		if c.FirstEvacuate < 0 {
			c.FirstEvacuate = w.now
		}
		for _, id := range a.Instances {
			c.evacuate(h, id, a.Avoid, a.FenceMethod, slices.Contains(a.Stopped, id))
		}
	}
}

// fenceRead is what the executor's last look at a fence found.
type fenceRead int

const (
	fenceHeld       fenceRead = iota // read, and it holds (or nothing to read)
	fenceLifted                      // read, and it no longer holds
	fenceUnreadable                  // could not be read: proves nothing either way
)

// readFence is the executor's last check before it asks Nova to start a
// second copy: the fence device's status, read again. A device that reads
// its fence in place is enough; every device reading it gone means lifted;
// otherwise (a BMC or the Ceph monitors not answering) it cannot be told.
// An operator's confirmation, a watchdog reset and a reboot have no device
// to read: the engine judged those (decision.JudgedFence).
func (c *Controller) readFence(h *Host, method string) (fenceRead, string) {
	if decision.JudgedFence(method) {
		return fenceHeld, ""
	}
	var lifted, unread []string
	for _, dev := range strings.Split(method, "+") {
		switch {
		case dev == "ceph-blocklist" && !c.w.CtlReachesCeph():
			unread = append(unread, "ceph monitors unreachable from the controllers")
		case dev == "ceph-blocklist" && !c.w.Blocklisted(h):
			lifted = append(lifted, "blocklist entries gone")
		case dev == "ipmi" && h.BMCDown:
			unread = append(unread, "BMC unreachable")
		case dev == "ipmi" && h.On && !h.BMCLies:
			lifted = append(lifted, "chassis power reads on")
		case dev == "ipmi" || dev == "ceph-blocklist":
			return fenceHeld, ""
		default:
			unread = append(unread, dev+": no such fence device")
		}
	}
	if len(unread) > 0 {
		return fenceUnreadable, "fence status unreadable: " + strings.Join(append(unread, lifted...), "; ")
	}
	return fenceLifted, "fence no longer holds: " + strings.Join(lifted, "; ")
}

// fenceTime is how long a device takes to act and be read back: it acts
// after fenceAct (session, authentication), is read back a second later.
const (
	fenceTime = 2 * time.Second
	fenceAct  = time.Second
)

// fence carries out a fence of level; since is when its incident opened
// (what the ceph-blocklist device claims as an earlier add of its own).
func (c *Controller) fence(h *Host, level int, probeAborts bool, since time.Duration) {
	w := c.w
	kind := "?"
	if level >= 1 && level <= len(w.cfg.FenceLevels) {
		kind = w.cfg.FenceLevels[level-1]
	}
	res := decision.FenceResult{Host: h.Name, Level: level, Method: kind}
	gen := c.gen
	report := func() {
		if gen == c.gen && c.up() {
			c.loop.Step(c.at(), res)
		}
	}
	power := strings.Contains(kind, "ipmi")
	// The executor's probe baseline goes out with the fence.
	answeredBefore := w.answersPing(h)
	c.cancelled[h.Name] = false
	c.laterGen(gen, fenceAct, func() {
		// The last moment before any device acts: a cancel from the
		// engine, or the host answering the probe, stops the fence here.
		switch {
		case c.cancelled[h.Name]:
			res.Aborted, res.Err = decision.AbortCancelled, "before the power-off"
		case power && probeAborts && w.answersAnyPing(h):
			res.Aborted, res.Err = decision.AbortHostAnswers, "ping on the storage network, right before the power-off"
		}
		if res.Aborted != decision.NotAborted {
			w.event(h.Name, "fence stopped before the power-off (%s)", res.Aborted)
			report()
			return
		}
		if w.agentLive(h) {
			// Ground truth, counted but not an invariant: some are
			// unpreventable (a hang clearing in the very instant of the
			// power-off, before any report could leave).
			c.LiveFenced++
			w.event(h.Name, "fence goes out while its agent runs and reaches the controllers")
		}
		slow := time.Duration(0)
		for _, dev := range strings.Split(kind, "+") {
			switch {
			case dev == "ipmi" && !h.BMCDown && !h.BMCLies:
				slow = h.BMCSlow
				c.laterGen(gen, max(h.BMCSlow, h.BMCLate), func() { w.ChassisOff(h, "fenced: ipmi chassis power off") })
			case dev == "ceph-blocklist" && w.CtlReachesCeph():
				res.Records = append(res.Records, marshalRecord(w.BlocklistAdd(h, w.cfg.BlocklistExpire, since)))
			}
		}
		c.laterGen(gen, slow+fenceTime-fenceAct, func() {
			c.verify(h, kind, answeredBefore, &res)
			report()
		})
	})
}

// verify reads every device of the level back, and the probe.
func (c *Controller) verify(h *Host, kind string, answeredBefore bool, res *decision.FenceResult) {
	w := c.w
	var proofs, errs []string
	power := false
	for _, dev := range strings.Split(kind, "+") {
		switch dev {
		case "ipmi":
			power = true
			switch {
			case h.BMCDown:
				errs = append(errs, "ipmi: BMC unreachable: no answer to chassis power off")
			case h.On && !h.BMCLies:
				errs = append(errs, "ipmi: chassis power still reads on")
			default:
				proofs = append(proofs, "ipmi: chassis power read back off")
			}
		case "ceph-blocklist":
			switch {
			case !w.CtlReachesCeph():
				errs = append(errs, "ceph-blocklist: ceph monitors unreachable from the controllers: blocklist not added or not readable")
			case !w.Blocklisted(h):
				errs = append(errs, "ceph-blocklist: the entry for its storage IP is not listed")
			default:
				proofs = append(proofs, "ceph-blocklist: entries listed for its storage addresses; its watchers are gone")
			}
		default:
			errs = append(errs, dev+": no such fence device")
		}
	}
	if power && len(errs) == 0 {
		switch {
		case answeredBefore && w.answersPing(h):
			errs = append(errs, "probe: the device reports the host fenced, but it still answers ping on the storage network")
		case answeredBefore:
			proofs = append(proofs, "probe: host no longer answers ping")
		default:
			proofs = append(proofs, "probe: inconclusive, the host did not answer before the fence either")
		}
	}
	if len(errs) > 0 {
		res.Err = strings.Join(errs, "; ")
	} else {
		res.OK, res.Proof = true, strings.Join(proofs, "; ")
	}
}

// rebuildWait is how long the executor polls an evacuated instance for ACTIVE.
const rebuildWait = 30 * time.Second

// evacuate carries out one instance of an Evacuate action; stopped: vigil
// saw it SHUTOFF, and it must end SHUTOFF on its target.
func (c *Controller) evacuate(h *Host, id string, avoid []string, method string, stopped bool) {
	w := c.w
	source := h.Name
	gen := c.gen // the leader whose executor this is: its polls die with it
	c.later(200*time.Millisecond, func(current bool) {
		res := decision.EvacuateResult{Host: source, Instance: id}
		inst := w.Nova.Instances[id]
		report := func() {
			if inst != nil {
				res.Placed, res.Status = inst.Host, inst.Status()
			}
			if current {
				c.loop.Step(c.at(), res)
			}
		}
		if inst != nil && inst.Host != source {
			// Moved already (an action replayed after a failover): done
			// only once it is rebuilt there, running or stopped.
			res.Target, res.Accepted = inst.Host, true
			if inst.Task == "" && (inst.VM == Active || inst.VM == Shutoff) {
				res.OK = true
			} else {
				res.Err = "already evacuated to " + inst.Host + ", state " + inst.Status()
			}
			report()
			return
		}
		if st, why := c.readFence(h, method); c.Guarded && st != fenceHeld {
			res.Err, res.FenceLost, res.FenceUnreadable = why, st == fenceLifted, st == fenceUnreadable
			report()
			return
		}
		target := ""
		if len(avoid) > 0 {
			if target = w.Nova.PickHost(source, avoid); target == "" {
				res.Err = "no host outside " + strings.Join(avoid, ",") + " can take it"
				report()
				return
			}
		}
		// The call is on its way: Nova accepts it EvacuateLatency after the
		// re-read, whether or not this leader is still alive to hear back.
		if gap := w.cfg.EvacuateLatency; gap > 0 {
			c.later(gap, func(bool) { c.novaEvacuate(h, inst, target, res, stopped, current && gen == c.gen && c.up(), gen) })
			return
		}
		c.novaEvacuate(h, inst, target, res, stopped, current, gen)
	})
}

// novaEvacuate is Nova accepting (or refusing) the evacuate call.
// gen is the leader that sent it: only its executor polls the rebuild.
func (c *Controller) novaEvacuate(h *Host, inst *Instance, target string, res decision.EvacuateResult, stopped, current bool, gen int) {
	w := c.w
	id := res.Instance
	// Ground truth, when Nova accepts: the guest still exists on a powered
	// source and its Ceph client is not blocklisted (a host the watchdog
	// reset and rebooted runs none of its old guests: that is not a second
	// writer).
	if h.On && h.Domains[id] && !w.blocked(w.client(h, id)) && !c.confirmed[h.Name] {
		c.violate(h.Name, "Nova asked to evacuate %s while %s still runs it unfenced (guests %v)", id, h.Name, sortedKeys(h.Domains))
	}
	// A stopped server stays stopped through an evacuation (Nova before
	// 2.95 stops it again after the rebuild), unless its state was lost
	// first (reset, or ERROR after no valid host): then Nova rebuilds it
	// ACTIVE, and the executor stops it again.
	stop := stopped || (inst != nil && inst.VM == Shutoff)
	dest, err := w.Nova.Evacuate(id, target)
	if errors.Is(err, ErrBadState) && inst.Task == TaskRebuilding {
		// Stuck rebuilding on this host, which is fenced: no copy can
		// run here, so reset it and evacuate again. Any other task state
		// (a live migration may have switched over and run the guest on
		// its destination already) is left to an operator.
		w.Nova.ResetState(id)
		dest, err = w.Nova.Evacuate(id, target)
	}
	if err != nil {
		res.Err = err.Error()
		if inst != nil {
			res.Placed, res.Status = inst.Host, inst.Status()
		}
		if current {
			c.loop.Step(c.at(), res)
		}
		return
	}
	c.Evacuated[id] = true
	res.Accepted = true
	c.poll(gen, inst, dest, res, stop, w.now+rebuildWait)
}

// poll waits for an evacuated instance to be rebuilt on dest, ACTIVE or
// (stop) SHUTOFF, as the real executor polls the Nova API, and reports the
// result. An instance that must end stopped and came up ACTIVE is stopped
// (os-stop) before it counts as done.
//
// The poll is the executor of leader gen: it dies with that leader (found
// by attack13: a dead leader's rebuild results reached its successor, which
// learnt through them what a real successor never hears).
func (c *Controller) poll(gen int, inst *Instance, dest string, res decision.EvacuateResult, stop bool, deadline time.Duration) {
	c.ops = append(c.ops, op{at: c.w.now + 500*time.Millisecond, gen: gen, fn: func(current bool) {
		if !current {
			return
		}
		rebuilt := inst.Host == dest && inst.Task == ""
		switch {
		case rebuilt && inst.VM == Active && stop:
			if err := c.w.Nova.Stop(inst.ID); err != nil {
				res.Err = "rebuilt ACTIVE on " + dest + ", os-stop failed: " + err.Error()
				break
			}
			res.OK, res.Target = true, dest
		case rebuilt && (inst.VM == Active || inst.VM == Shutoff):
			res.OK, res.Target = true, dest
		case inst.Task == TaskRebuilding && inst.Host == dest && c.w.now < deadline:
			c.poll(gen, inst, dest, res, stop, deadline)
			return
		case inst.Host != dest:
			res.Err = "Nova moved it on from " + dest + " to " + inst.Host + ", state " + inst.Status()
		default:
			res.Err = "rebuild on " + dest + " not ACTIVE: " + inst.Status()
		}
		res.Placed, res.Status = inst.Host, inst.Status()
		c.loop.Step(c.at(), res)
	}})
}
