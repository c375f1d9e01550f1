package ipmisim

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// holdsUDPPort reports whether process pid has a UDP socket bound to
// Address:port. It reads /proc, so a port taken by another process does not
// count.
func holdsUDPPort(pid, port int) bool {
	inodes := udpInodes(pid, port)
	if len(inodes) == 0 {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// udpInodes returns the sockets bound to Address:port in process pid's
// network namespace, as the fd link targets ("socket:[inode]") that name
// them.
func udpInodes(pid, port int) map[string]bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	// 127.0.0.1 in /proc/net/udp's little-endian hex.
	local := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[1] == local {
			inodes["socket:["+fields[9]+"]"] = true
		}
	}
	return inodes
}
