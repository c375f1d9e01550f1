package sim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Ceph names the Ceph cluster (its monitors and OSDs) in partition groups of
// the storage network. Ceph is many machines, so it may be named in several
// groups: it reaches every group that names it. Not named, it stays with
// the controllers.
const Ceph = "ceph"

// DefaultBlocklistExpire is the expiry vigil's ceph-blocklist device gives
// its entries (docs/fencing.md; Ceph's own default is 1 h).
const DefaultBlocklistExpire = 24 * time.Hour

// cephState is the Ceph cluster: who reaches it and its OSD blocklist.
type cephState struct {
	down bool // unreachable for everyone
	// reaches: the storage-network groups Ceph reaches while that network
	// is partitioned; nil when it is whole.
	reaches map[int]bool
	// entries is the blocklist: client address → expiry (virtual time).
	// "IP:0/0" is a whole-IP entry and stops every client of that IP.
	entries map[string]time.Duration
	ip      map[string]string // host → storage IP
	clients map[string]string // host/client → address, one per process
	nonce   int
}

func newCeph(hosts []*Host) cephState {
	c := cephState{entries: map[string]time.Duration{}, ip: map[string]string{}, clients: map[string]string{}}
	for i, h := range hosts {
		c.ip[h.Name] = fmt.Sprintf("10.0.2.%d", i+1)
	}
	return c
}

// StorageNet is the network Ceph's clients use: "storage" when the
// cluster has one, else its last network.
func StorageNet(networks []string) string {
	for _, n := range networks {
		if n == "storage" {
			return n
		}
	}
	return networks[len(networks)-1]
}

// cephReaches reports whether Ceph reaches the storage-network group g.
func (w *World) cephReaches(g int) bool {
	return !w.ceph.down && (w.ceph.reaches == nil || w.ceph.reaches[g])
}

// hostReachesCeph reports whether h's link and the storage network carry
// its I/O to the monitors and OSDs.
func (w *World) hostReachesCeph(h *Host) bool {
	net := w.storageNet()
	return h.link(net) && w.cephReaches(w.group(net, h.Name))
}

// CtlReachesCeph reports whether the controllers reach the Ceph monitors:
// the path of their heartbeat and watcher reads and blocklist commands.
func (w *World) CtlReachesCeph() bool { return w.cephReaches(w.group(w.storageNet(), Controllers)) }

// client is the Ceph client address of one process on h: a guest's QEMU
// (who = instance) or the agent. A new process gets a new nonce.
func (w *World) client(h *Host, who string) string {
	k := h.Name + "/" + who
	a, ok := w.ceph.clients[k]
	if !ok {
		w.ceph.nonce++
		a = fmt.Sprintf("%s:0/%d", w.ceph.ip[h.Name], w.ceph.nonce)
		w.ceph.clients[k] = a
	}
	return a
}

// endClients forgets h's clients (power off); endClient one (guest destroyed).
func (w *World) endClients(h *Host) {
	for k := range w.ceph.clients {
		if strings.HasPrefix(k, h.Name+"/") {
			delete(w.ceph.clients, k)
		}
	}
}

func (w *World) endClient(h *Host, who string) { delete(w.ceph.clients, h.Name+"/"+who) }

func (w *World) listed(addr string) bool {
	exp, ok := w.ceph.entries[addr]
	return ok && w.now < exp
}

// blocked reports whether Ceph refuses a client: an unexpired entry for
// its own address or for its whole IP.
func (w *World) blocked(addr string) bool {
	ip, _, _ := strings.Cut(addr, ":")
	return w.listed(addr) || w.listed(ip+":0/0")
}

// canWrite reports whether a process on h gets its writes to Ceph now.
func (w *World) canWrite(h *Host, who string) bool {
	return h.alive() && w.hostReachesCeph(h) && !w.blocked(w.client(h, who))
}

// Blocklisted reports whether the blocklist lists h's whole storage IP
// now: what the ceph-blocklist device's status read shows.
func (w *World) Blocklisted(h *Host) bool { return w.listed(w.ceph.ip[h.Name] + ":0/0") }

// BlocklistAdd is vigil's ceph-blocklist device: an entry for h's storage
// IP and one for each of its guests' clients (the disks' lock owners), each
// expiring after expire. Like Ceph, re-adding an entry that is listed keeps
// its first expiry. It returns the device's record (BlocklistRecord): the
// entries it relies on, those it added marked ours. An entry already listed
// is ours too when it has vigil's expiry and was made at or after since,
// when the fence's incident opened: an earlier add of this incident whose
// record was lost with a leader (fence.Target.Since); else it is someone
// else's, or an earlier fence's whose own record says so.
func (w *World) BlocklistAdd(h *Host, expire, since time.Duration) BlocklistRecord {
	addrs := []string{w.ceph.ip[h.Name] + ":0/0"}
	for _, id := range sortedKeys(h.Domains) {
		addrs = append(addrs, w.client(h, id))
	}
	kept := 0
	var rec BlocklistRecord
	for _, a := range addrs {
		if w.listed(a) {
			kept++
			exp := w.ceph.entries[a]
			rec.Entries = append(rec.Entries, BlocklistEntry{Addr: a, Ours: ClaimBlocklist && since >= 0 && exp-expire >= since && exp <= w.now+expire})
			continue
		}
		w.ceph.entries[a] = w.now + expire
		rec.Entries = append(rec.Entries, BlocklistEntry{Addr: a, Ours: true})
	}
	w.event(h.Name, "ceph blocklisted its storage IP and %d guest clients for %v (%d entries already listed keep their expiry)", len(addrs)-1, expire, kept)
	return rec
}

// ClaimBlocklist is true but in the test that shows what happens without
// the claim of an earlier add (the fuzzer finds the entries left behind).
var ClaimBlocklist = true

// BlocklistRenew is the ceph-blocklist device's renewal (executor.Renew)
// of the entries its records name: each with less than half of expire left
// gets a fresh expiry, with no moment unlisted (the real device covers it
// with an entry of the other form first). It reports whether the whole-IP
// entry was found gone: it is added again (the record it returns says so),
// and the host may have written meanwhile.
func (w *World) BlocklistRenew(h *Host, expire time.Duration, recs []BlocklistRecord) (lapsed bool, added BlocklistRecord) {
	lapsed = !w.Blocklisted(h)
	n := 0
	for _, r := range recs {
		for _, e := range r.Entries {
			if exp, ok := w.ceph.entries[e.Addr]; ok && exp-w.now < expire/2 && w.now < exp {
				w.ceph.entries[e.Addr] = w.now + expire
				n++
			}
		}
	}
	if lapsed {
		w.event(h.Name, "ceph blocklist renewal found the host's entry gone: added again")
		return true, w.BlocklistAdd(h, expire, w.now)
	}
	if n > 0 {
		w.event(h.Name, "ceph blocklist entries renewed (%d) for %v", n, expire)
	}
	return false, BlocklistRecord{}
}

// BlocklistRemove is vigil's unfence: it removes the entries its records
// say vigil added, and those on h's IP with vigil's expiry made at or after
// since (adds whose records were lost with a leader; since < 0: none), and
// no other (librbd's own, other tools').
func (w *World) BlocklistRemove(h *Host, recs []BlocklistRecord, since, expire time.Duration) {
	n := 0
	if since >= 0 && ClaimBlocklist {
		prefix := w.ceph.ip[h.Name] + ":"
		for a, exp := range w.ceph.entries {
			if strings.HasPrefix(a, prefix) && exp-expire >= since && exp <= w.now+expire {
				delete(w.ceph.entries, a)
				n++
			}
		}
	}
	for _, r := range recs {
		for _, e := range r.Entries {
			if _, ok := w.ceph.entries[e.Addr]; ok && e.Ours {
				delete(w.ceph.entries, e.Addr)
				n++
			}
		}
	}
	if n > 0 {
		w.event(h.Name, "ceph blocklist entries removed (%d)", n)
	}
}

// BlocklistRecord is the simulated ceph-blocklist device's record of a
// fence, as it travels in FenceResult.Records: the shape of the real
// device's (fence.Proof with its blocklist part), reduced to what the
// simulator models.
type BlocklistRecord struct {
	Entries []BlocklistEntry `json:"entries"`
}

// BlocklistEntry is one entry a record relies on; Ours: the device added it.
type BlocklistEntry struct {
	Addr string `json:"addr"`
	Ours bool   `json:"ours,omitempty"`
}

// simRecord is one device's record in FenceResult.Records.
type simRecord struct {
	Driver    string           `json:"driver"`
	Blocklist *BlocklistRecord `json:"blocklist,omitempty"`
}

// marshalRecord is rec as FenceResult.Records carries it.
func marshalRecord(rec BlocklistRecord) json.RawMessage {
	b, err := json.Marshal(simRecord{Driver: "ceph-blocklist", Blocklist: &rec})
	if err != nil {
		panic(err) // plain data
	}
	return b
}

// blocklistRecords reads the ceph-blocklist records among rs.
func blocklistRecords(rs []json.RawMessage) []BlocklistRecord {
	var out []BlocklistRecord
	for _, r := range rs {
		var s simRecord
		if json.Unmarshal(r, &s) == nil && s.Driver == "ceph-blocklist" && s.Blocklist != nil {
			out = append(out, *s.Blocklist)
		}
	}
	return out
}

// ExpireBlocklist makes every entry on h's storage IP lapse now, as if its
// expiry had passed or someone ran `ceph osd blocklist rm`.
func (w *World) ExpireBlocklist(h *Host) {
	n := w.dropEntries(h)
	w.event(h.Name, "ceph blocklist entries lapsed (%d): its clients can write again", n)
}

func (w *World) dropEntries(h *Host) int {
	prefix := w.ceph.ip[h.Name] + ":"
	n := 0
	for a := range w.ceph.entries {
		if strings.HasPrefix(a, prefix) {
			delete(w.ceph.entries, a)
			n++
		}
	}
	return n
}

// expireEntries drops the entries whose expiry has come, as the monitors do.
func (w *World) expireEntries() {
	var gone []string
	for a, exp := range w.ceph.entries {
		if w.now >= exp {
			gone = append(gone, a)
		}
	}
	if len(gone) == 0 {
		return
	}
	sort.Strings(gone)
	for _, a := range gone {
		delete(w.ceph.entries, a)
	}
	for _, h := range w.Hosts {
		n := 0
		for _, a := range gone {
			if strings.HasPrefix(a, w.ceph.ip[h.Name]+":") {
				n++
			}
		}
		if n > 0 {
			w.event(h.Name, "ceph blocklist entries expired (%d): its clients can write again", n)
		}
	}
}

// partitionCeph places Ceph in a partition of the storage network: in every
// group that names it, else with the controllers. m maps members to groups.
func (w *World) partitionCeph(groups [][]string, m map[string]int) {
	w.ceph.reaches = map[int]bool{}
	for i, g := range groups {
		for _, member := range g {
			if member == Ceph {
				w.ceph.reaches[i+1] = true
			}
		}
	}
	if len(w.ceph.reaches) == 0 {
		w.ceph.reaches[m[Controllers]] = true
	}
}

// SetStorage makes the whole Ceph cluster unreachable or reachable.
func (w *World) SetStorage(up bool) {
	w.ceph.down = !up
	if up {
		w.event("", "storage cluster reachable")
	} else {
		w.event("", "storage cluster unreachable")
	}
}
