package ceph

import (
	"fmt"
	"strings"
)

// monAddrs is the mon's address vector as ceph.conf and monmaptool spell it.
func monAddrs(portBase int) string {
	return fmt.Sprintf("[v2:127.0.0.1:%d,v1:127.0.0.1:%d]", portBase, portBase+1)
}

// renderConf returns the ceph.conf of a single-host cluster in dir. Every
// path is inside dir, so nothing of the machine's own /etc/ceph is used.
func renderConf(fsid, dir string, portBase int, store string) string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("[global]")
	line("fsid = %s", fsid)
	line("mon host = %s", monAddrs(portBase))
	line("public addr = 127.0.0.1")
	line("public network = 127.0.0.0/8")
	line("cluster network = 127.0.0.0/8")
	line("auth cluster required = cephx")
	line("auth service required = cephx")
	line("auth client required = cephx")
	line("keyring = %s/keyring", dir)
	line("log file = %s/log/$name.log", dir)
	line("admin socket = %s/run/$name.asok", dir)
	line("pid file = %s/run/$name.pid", dir)
	line("run dir = %s/run", dir)
	line("ms bind port min = %d", portBase+10)
	line("ms bind port max = %d", portBase+portSpan)
	line("osd pool default size = 1")
	line("osd pool default min size = 1")
	line("osd pool default pg num = 8")
	line("osd pool default pgp num = 8")
	line("osd pool default pg autoscale mode = off")
	line("osd crush chooseleaf type = 0")
	line("mon allow pool size one = true")
	line("mon allow pool delete = true")
	line("auth allow insecure global id reclaim = false")
	line("mon warn on insecure global id reclaim allowed = false")
	line("mon warn on pool no redundancy = false")
	line("mon data avail warn = 1")
	line("mon data avail crit = 0")
	line("mgr stats period = 1") // PG states reach `ceph pg stat` within 1 s, not 5
	line("[client]")
	line("admin socket = %s/run/$name.$pid.asok", dir)
	line("log file = %s/log/$name.$pid.log", dir)
	line("[mon]")
	line("mon data = %s/mon.$id", dir)
	line("mon cluster log file = %s/log/cluster.log", dir)
	line("[mgr]")
	line("mgr data = %s/mgr.$id", dir)
	line("keyring = %s/mgr.$id/keyring", dir)
	line("mgr disabled modules = dashboard")
	line("[osd]")
	line("osd data = %s/osd.$id", dir)
	line("keyring = %s/osd.$id/keyring", dir)
	line("osd objectstore = %s", store)
	line("memstore device bytes = 1073741824")
	line("bluestore block path = %s/osd.$id/block.file", dir)
	line("bluestore block create = true")
	line("bluestore block size = 2147483648")
	line("bluestore fsck on mount = false")
	line("bluestore cache size = 67108864")
	line("osd memory target = 536870912")
	line("osd max object name len = 460")
	line("osd max object namespace len = 64")
	return b.String()
}
