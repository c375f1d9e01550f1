package probe

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// userHZ is the unit of the start times in /proc/PID/stat (clock ticks,
// sysconf(_SC_CLK_TCK)). The kernel reports them in USER_HZ, which is 100
// on every architecture vigil runs on, whatever the kernel's own HZ.
const userHZ = 100

// commLen is how much of a name the kernel keeps as a process's comm
// (TASK_COMM_LEN 16, with the NUL).
const commLen = 15

// procStat is what the probe needs from one /proc/PID/stat.
type procStat struct {
	comm  string
	state byte   // R, S, D, Z, X, …
	start uint64 // clock ticks after boot (field 22)
}

// gone tells whether the process has exited and only its entry is left
// (a zombie not yet reaped, or a dead task).
func (s procStat) gone() bool { return s.state == 'Z' || s.state == 'X' || s.state == 'x' }

var errStat = errors.New("probe: malformed /proc/PID/stat")

// parseStat reads a /proc/PID/stat line: "pid (comm) state ppid … ". The
// comm may hold spaces and parentheses, so it ends at the last ')'.
func parseStat(b []byte) (procStat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, errStat
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, errStat
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("%w: starttime %q", errStat, fields[19])
	}
	return procStat{comm: string(b[open+1 : end]), state: fields[0][0], start: start}, nil
}

// parseBootTime returns the btime line of /proc/stat: the boot's wall-clock
// time in seconds since the epoch.
func parseBootTime(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("probe: no btime in /proc/stat")
}

// parseCmdline splits /proc/PID/cmdline (NUL-separated arguments).
func parseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil // a kernel thread
	}
	return strings.Split(string(b), "\x00")
}

// matchesName tells whether a process is the service called name: its
// comm is the name (the kernel sets it from the executable's or the
// script's file name, so /usr/bin/nova-compute run through its #! line has
// comm nova-compute), or its command line runs it (argv[0] is a path to
// name, or a python interpreter runs a path to name as argv[1]: python3
// /usr/bin/nova-compute). Other arguments never count: `less
// /var/log/nova-compute` is not nova-compute.
func matchesName(name, comm string, argv []string) bool {
	if comm == truncate(name, commLen) {
		return true
	}
	if len(argv) > 0 && path.Base(argv[0]) == name {
		return true
	}
	return len(argv) > 1 && strings.HasPrefix(path.Base(argv[0]), "python") && path.Base(argv[1]) == name
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
