package decision

import (
	"fmt"
	"slices"
	"time"
)

// Copies of an instance on another host than the one Nova places it on: a
// live migration that had switched over, a hung host's frozen guest. vigil
// never evacuates, rejoins or restarts next to one (docs/architecture.md).

// placedHereRunElsewhere lists the instances Nova places on h that a host
// not fenced runs, or writes the disk of (seenWith).
func (e *Engine) placedHereRunElsewhere(now time.Time, h *host) []string {
	var out []string
	for _, in := range h.nova.Instances {
		for _, o := range e.hosts {
			if o != h && !e.fenceHolds(now, o) && o.seenWith(in, now) {
				out = append(out, in)
				break
			}
		}
	}
	return out
}

// fenceHolds reports whether o's guests cannot write now: its incident
// holds a fence that nothing has undone, and, once o is back (rejoining),
// only a storage fence still in force (a blocklisted host's stale guests
// cannot write; a host whose power fence was undone, or that answered
// again, may run them). Found by vigil lab fuzz --seed 1796319925 (schedule
// 9619): the attack12 fix counted every rejoining host as unfenced, and a
// blocklisted host's stale guests then held their evacuated copies' next
// evacuation for good. A storage fence does not hold by itself once the
// power fence beside it was undone: the twentieth review showed entries
// that lapse (or a power read-back that lied) letting a stale copy write
// while a second one started (scenarios/attack20/).
func (e *Engine) fenceHolds(now time.Time, o *host) bool {
	if o.inc == nil || o.inc.fence == nil || e.fenceUndone(now, o) != "" {
		return false
	}
	return o.state != Rejoining || hasStorageFence(o.inc.fence.Method)
}

// hasStorageFence reports whether one of the fence's devices keeps the
// host's guests off their disks while it may run on.
func hasStorageFence(method string) bool {
	for _, m := range methods(method) {
		if m == "ceph-blocklist" || m == "fence-agent-storage" {
			return true
		}
	}
	return false
}

// seenWith reports whether o was last seen with a copy of instance in,
// however long ago: its latest guest list names it, or the disk watch
// showed o on its disk in a run of reads that began after o's latest
// report (a guest its agent never listed). Only a later report of a known
// guest list without it clears it, or a fence of o: a hung host's last word
// is its last word, and its frozen guest writes again when the hang clears.
// A watch that was there before o's agent said it runs no such guest, and
// ended within a dead client's linger, was that dead process's: found by
// vigil lab fuzz --seed 1796318973 (schedule 2075).
//
// A watch read after the last report that did not list the guest may be a
// dead client's, which lingers for up to deadWatchLinger after the client
// died (and it died after the last report that listed it, or before the
// run began): while it is still read, and within that bound, it may be a
// live writer the agent does not list (libvirt lost track of its QEMU, say:
// found by attack14), and counts; once it ended within the bound it was a
// dead one's; a run longer than the bound was a live writer. One no read
// shows since before the last report, which does not list it, has ended.
//
// A guest list o's agent gave before a power fence of o was verified names
// guests of a boot that the fence switched off: they died with it, whatever
// o's power does since (a new boot lists its own). Found by vigil lab fuzz
// --seed 3538135721 (schedule 2279): a host fenced while off and powered on
// again, still cut off, held the next evacuation of an instance it had run.
func (o *host) seenWith(in string, now time.Time) bool {
	if slices.Contains(o.self.Domains, in) && !o.listedBeforePowerFence() {
		return true
	}
	w := o.writers[in]
	switch {
	case w.IsZero():
		return false
	case o.watchEndedAtPowerFence(w, now):
		return false // the switched-off boot's client, lingering
	case o.selfAt.IsZero() || o.self.GuestsUnknown:
		return true
	case o.selfAt.After(w.Add(writerGap)):
		return false // the watch ended before the last report, which does not list it
	case o.writerSince[in].After(o.selfAt):
		return true // a run that began after the last report
	case now.Sub(w) <= writerGap:
		return true // still read: a dead client's or a live one, it cannot be told yet
	}
	from := o.writerSince[in]
	if l := o.listedAt[in]; l.After(from) {
		from = l
	}
	return w.Sub(from) > deadWatchLinger // ended: longer than a dead client's watch lasts was a live one
}

// powerFencedAt is when a power fence of o was verified, if its incident
// holds one (undone since or not: the boot it switched off stays dead).
func (o *host) powerFencedAt() (time.Time, bool) {
	if o.inc == nil || o.inc.fence == nil || !powerFence(o.inc.fence.Method) {
		return time.Time{}, false
	}
	return o.inc.fence.At, true
}

// listedBeforePowerFence reports whether o's latest guest list came before
// a power fence of o that was verified: a list of a boot now dead.
func (o *host) listedBeforePowerFence() bool {
	at, ok := o.powerFencedAt()
	return ok && o.selfAt.Before(at)
}

// watchEndedAtPowerFence reports whether a disk watch last read at w ended
// within a dead client's linger after a verified power fence of o: the
// watch of the boot the fence switched off (a live one would have gone on
// being read). Found by vigil lab fuzz --seed 521293239 (schedule 7825): a
// host fenced before this leader ever heard it, and powered on again, held
// the next evacuation of an instance whose disk it had watched.
func (o *host) watchEndedAtPowerFence(w, now time.Time) bool {
	at, ok := o.powerFencedAt()
	return ok && now.Sub(w) > writerGap && !w.After(at.Add(deadWatchLinger))
}

// saidWithout reports whether o's agent, since t, gave a known guest list
// that does not name instance in.
func (o *host) saidWithout(in string, t time.Time) bool {
	return o.selfAt.After(t) && !o.self.GuestsUnknown && !slices.Contains(o.self.Domains, in)
}

// copyElsewhere reports whether another host runs instance in of fenced h,
// or writes its disk, now: Nova's placement is stale (a live migration that
// had switched over when h died), and an evacuation would start a second
// copy next to the one that runs. vigil does not evacuate it and says so.
func (e *Engine) copyElsewhere(now time.Time, h *host, in string) bool {
	if !slices.Contains(h.nova.Instances, in) {
		return false // Nova places it elsewhere already: moved, or being moved, by Nova's own record
	}
	inc := h.inc
	holders := e.copyHolders(now, h, inc, in)
	if !slices.Equal(holders, inc.heldCopy[in]) {
		if len(holders) == 0 {
			delete(inc.heldCopy, in)
		} else {
			inc.heldCopy[in] = holders
		}
		e.persist(h) // a successor holds it too
	}
	if len(holders) == 0 {
		return false
	}
	e.alert(h, "evacuate-copy-elsewhere:"+in, fmt.Sprintf("%s of fenced %s runs on another host, or another host writes its disk (a live migration that had switched over?): vigil does not evacuate it, which would start a second copy; Nova's record of where it runs is stale: check it (openstack server show %s) and fix its host", in, h.Name, in))
	return true
}

// copyHolders lists the hosts other than h that hold a copy of instance in
// of inc (h's incident, or the one Plan supposes) now: every host seen with
// a copy, and every host a predecessor saw with one (the record) until that
// host is fenced or tells this leader it runs none. It changes nothing.
func (e *Engine) copyHolders(now time.Time, h *host, inc *incident, in string) []string {
	var holders []string
	for _, name := range e.order {
		o := e.hosts[name]
		if o == h || e.fenceHolds(now, o) {
			continue // a fenced host's copy, or its disk watch lingering after it died, is no live copy
		}
		if o.seenWith(in, now) || slices.Contains(inc.heldCopy[in], name) && !o.saidWithout(in, e.leaderSince) {
			holders = append(holders, name)
		}
	}
	for _, name := range inc.heldCopy[in] {
		if e.hosts[name] == nil && !slices.Contains(holders, name) {
			holders = append(holders, name) // no longer configured: nothing will ever say it runs none
		}
	}
	return holders
}
