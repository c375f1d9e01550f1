package sim

import (
	"testing"
	"time"
)

// writes is how many writes vm01's disk got during d.
func (w *World) writesDuring(id string, d time.Duration) int {
	before := w.Disks[id].Writes
	w.runFor(d)
	return w.Disks[id].Writes - before
}

func TestBlocklistEntryStopsWritesUntilItExpires(t *testing.T) {
	w := newTestWorld(t)
	w.runFor(5 * time.Second)
	h := w.Host("cmp1")
	w.BlocklistAdd(h, 30*time.Second, 0)
	beat := h.heartbeat
	if n := w.writesDuring("vm01", 29*time.Second); n != 0 {
		t.Fatalf("a blocklisted guest wrote %d times", n)
	}
	if h.heartbeat != beat {
		t.Fatal("a blocklisted agent's storage heartbeat advanced")
	}
	if !w.Blocklisted(h) {
		t.Fatal("the entry is not listed before its expiry")
	}
	if n := w.writesDuring("vm01", 3*time.Second); n == 0 {
		t.Fatal("the guest cannot write after its blocklist entry expired")
	}
	if w.Blocklisted(h) || h.heartbeat == beat {
		t.Fatalf("after expiry: listed=%v heartbeat moved=%v", w.Blocklisted(h), h.heartbeat != beat)
	}
}

func TestReAddingABlocklistEntryKeepsItsFirstExpiry(t *testing.T) {
	w := newTestWorld(t)
	h := w.Host("cmp1")
	w.BlocklistAdd(h, 10*time.Second, 0)
	w.runFor(5 * time.Second)
	w.BlocklistAdd(h, time.Hour, 0) // Ceph keeps the first expiry (FIELD-NOTES)
	w.runFor(6 * time.Second)
	if w.Blocklisted(h) {
		t.Fatal("re-adding the entry extended its expiry")
	}
	// Once it is gone, adding it again starts a new expiry.
	w.BlocklistAdd(h, time.Hour, 0)
	w.runFor(time.Minute)
	if !w.Blocklisted(h) {
		t.Fatal("a fresh entry did not hold")
	}
}

func TestWholeIPEntryStopsNewProcessesOwnerEntryOnlyItsClient(t *testing.T) {
	w := newTestWorld(t)
	h := w.Host("cmp1")
	w.BlocklistAdd(h, time.Hour, 0)
	old := w.client(h, "vm01")
	delete(w.ceph.entries, w.ceph.ip[h.Name]+":0/0") // only the lock owner's entry is left
	if !w.blocked(old) {
		t.Fatal("the lock owner's own entry does not stop it")
	}
	w.endClient(h, "vm01") // the guest restarts: a new QEMU, a new nonce
	if w.blocked(w.client(h, "vm01")) {
		t.Fatal("an entry for the old client's nonce stopped the new process")
	}
}

func TestCephIsReachedIndependentlyOfTheControllers(t *testing.T) {
	w := newTestWorld(t)
	h := w.Host("cmp1")
	// cmp1 loses the controllers on every network but keeps Ceph.
	w.Partition("mgmt", [][]string{{"cmp1"}, {"cmp2", "cmp3", Controllers}})
	w.Partition("storage", [][]string{{"cmp1", Ceph}, {"cmp2", "cmp3", Controllers, Ceph}})
	if w.reachCtl(h, "mgmt") || w.reachCtl(h, "storage") || w.answersPing(h) {
		t.Fatal("cmp1 still reaches the controllers")
	}
	beat := h.heartbeat
	if n := w.writesDuring("vm01", 5*time.Second); n == 0 || h.heartbeat == beat {
		t.Fatalf("cmp1 cut off from the controllers only: %d writes, heartbeat moved %v", n, h.heartbeat != beat)
	}
	if !w.CtlReachesCeph() {
		t.Fatal("the controllers lost Ceph")
	}
	// Ceph not named: it stays with the controllers, as before.
	w.Partition("storage", [][]string{{"cmp1"}, {"cmp2", "cmp3", Controllers}})
	if n := w.writesDuring("vm01", 5*time.Second); n != 0 || !w.CtlReachesCeph() {
		t.Fatalf("ceph unnamed: cmp1 wrote %d times, controllers reach ceph %v", n, w.CtlReachesCeph())
	}
	// The controllers alone lose Ceph; the hosts keep writing.
	w.Partition("storage", [][]string{{Controllers}, {"cmp1", "cmp2", "cmp3", Ceph}})
	if n := w.writesDuring("vm01", 5*time.Second); n == 0 || w.CtlReachesCeph() {
		t.Fatalf("controllers cut from ceph: cmp1 wrote %d times, controllers reach ceph %v", n, w.CtlReachesCeph())
	}
	w.Partition("storage", nil)
	if !w.CtlReachesCeph() || !w.hostReachesCeph(h) {
		t.Fatal("healing the partition did not restore Ceph")
	}
}
