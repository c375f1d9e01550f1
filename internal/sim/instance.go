package sim

// Faults of one Nova server, and of rebuilds on one host: what its users and
// Nova itself do to an instance while vigil handles its host.

// StopInstance is the instance's user stopping it (os-stop): its guest stops
// on its host and writes nothing more; Nova shows it SHUTOFF. It must not
// run again unless its user starts it.
func (w *World) StopInstance(id string) {
	inst := w.Nova.Instances[id]
	if inst == nil || inst.VM == Shutoff {
		return
	}
	inst.VM, inst.Stopped = Shutoff, true
	if h := w.Host(inst.Host); h != nil && h.Domains[id] {
		delete(h.Domains, id)
		w.endClient(h, id)
	}
	w.event(inst.Host, "instance %s stopped by its user: SHUTOFF", id)
}

// ErrorInstance puts an instance in ERROR, as a failed operation does (a
// volume attach, a resize): its guest keeps running where it runs. Nova still
// accepts an evacuation of it.
func (w *World) ErrorInstance(id string) {
	inst := w.Nova.Instances[id]
	if inst == nil || inst.VM == Errored {
		return
	}
	inst.VM = Errored
	w.event(inst.Host, "instance %s in ERROR (its guest keeps running)", id)
}

// SetTask gives an instance a task state, an operation left in flight (its
// host died under it): Nova refuses to evacuate it until the task state is
// cleared. A live migration (TaskMigrating) with a destination has switched
// over already: the guest runs on dest while Nova still places the instance
// on its source (post_live_migration never ran).
func (w *World) SetTask(id string, task TaskState, dest string) {
	inst := w.Nova.Instances[id]
	if inst == nil {
		return
	}
	inst.Task = task
	if d := w.Host(dest); d != nil && dest != inst.Host {
		if src := w.Host(inst.Host); src != nil && src.Domains[id] {
			delete(src.Domains, id)
			w.endClient(src, id)
			d.Domains[id] = true
			// The switch-over is a hand-over (the source pauses before
			// the destination resumes), not two writers.
			delete(w.Disks[id].last, src.Name)
		}
		inst.switchedTo = dest
		w.event(inst.Host, "instance %s live-migrating to %s: switched over, its guest runs there; Nova still places it here", id, dest)
		return
	}
	w.event(inst.Host, "instance %s task_state %s", id, task)
}

// ClearTask clears an instance's task state (an operator resets it, or the
// operation is rolled back).
func (w *World) ClearTask(id string) {
	if inst := w.Nova.Instances[id]; inst != nil && inst.Task != "" && inst.readyAt == 0 { // not an evacuation's rebuild
		w.event(inst.Host, "instance %s task_state %s cleared", id, inst.Task)
		inst.Task, inst.switchedTo = "", ""
	}
}

// FailRebuilds makes every rebuild that completes on host fail (or succeed
// again): the instance ends in ERROR there, as when the destination cannot
// spawn it (its image backend, network or hypervisor is broken).
func (w *World) FailRebuilds(host string, fail bool) {
	if w.Nova.rebuildFails[host] == fail {
		return
	}
	w.Nova.rebuildFails[host] = fail
	if fail {
		w.event(host, "nova: rebuilds on %s fail from now on", host)
	} else {
		w.event(host, "nova: rebuilds on %s succeed again", host)
	}
}
