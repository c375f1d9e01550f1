package sim

import (
	"sort"
	"time"
)

// overlap is how close two writes from different hosts must be to count as
// concurrent writers: guests write every second.
const overlap = 1500 * time.Millisecond

// Disk is an instance's RBD image; it records every writer.
type Disk struct {
	Instance string
	last     map[string]time.Duration // host → last write
	Writes   int
	// Double is set when two hosts wrote it within overlap of each other.
	Double     bool
	DoubleAt   time.Duration
	DoubleWith []string
}

func (d *Disk) write(w *World, host string) {
	d.Writes++
	d.last[host] = w.now
	if d.Double {
		return
	}
	for other, t := range d.last {
		if other != host && w.now-t <= overlap {
			d.Double, d.DoubleAt = true, w.now
			d.DoubleWith = []string{host, other}
			sort.Strings(d.DoubleWith)
			w.event(host, "DOUBLE WRITER on %s's disk: %s and %s both write it", d.Instance, d.DoubleWith[0], d.DoubleWith[1])
			return
		}
	}
}

// DoubleWriters lists the instances whose disk had two writers, sorted.
func (w *World) DoubleWriters() []string {
	var out []string
	for _, id := range sortedKeys(w.Disks) {
		if w.Disks[id].Double {
			out = append(out, id)
		}
	}
	return out
}
