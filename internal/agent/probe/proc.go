package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcConfig describes a service found by its process, as a package install
// runs it (systemd or an init script starting /usr/sbin/libvirtd).
type ProcConfig struct {
	// Root is the proc file system to read: "/proc" on a host, a fixture
	// directory in tests.
	Root string
	// Name is the service's process name (matchesName): "nova-compute",
	// "libvirtd".
	Name string
}

// DefaultProcConfig finds the process called name in /proc.
func DefaultProcConfig(name string) ProcConfig {
	return ProcConfig{Root: "/proc", Name: name}
}

// Validate reports the first problem with c, naming the field.
func (c ProcConfig) Validate() error {
	switch {
	case !filepath.IsAbs(c.Root):
		return fmt.Errorf("probe: proc root %q is not an absolute path", c.Root)
	case c.Name == "" || strings.ContainsAny(c.Name, "/\x00"):
		return fmt.Errorf("probe: process name %q: want a file name such as nova-compute", c.Name)
	}
	return nil
}

// ProcProbe finds a service's process in /proc and its start time. When
// several processes match it reports the oldest (a daemon's forked helpers
// share its name and start later). It keeps the run it found last and
// checks that one first, so a steady sample reads one or two files, not all
// of /proc. It is not safe for concurrent use.
type ProcProbe struct {
	cfg   ProcConfig
	btime time.Time // the boot's wall-clock time (/proc/stat btime): fixed for the boot
	last  procRun   // the run found last; pid 0 when none
}

// procRun is one process: pid and start ticks name it uniquely for the boot.
type procRun struct {
	pid   int
	start uint64
}

// NewProcProbe checks cfg; /proc is first read by Sample.
func NewProcProbe(cfg ProcConfig) (*ProcProbe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ProcProbe{cfg: cfg}, nil
}

// Sample looks for the service now. Not finding it is a sample (not
// running); an error means /proc itself could not be read.
func (p *ProcProbe) Sample(ctx context.Context) (Sample, error) {
	if p.btime.IsZero() {
		b, err := os.ReadFile(filepath.Join(p.cfg.Root, "stat"))
		if err != nil {
			return Sample{}, fmt.Errorf("probe: %w", err)
		}
		sec, err := parseBootTime(b)
		if err != nil {
			return Sample{}, fmt.Errorf("probe: %s: %w", filepath.Join(p.cfg.Root, "stat"), err)
		}
		p.btime = time.Unix(sec, 0)
	}
	if p.last.pid != 0 {
		if st, ok := p.match(p.last.pid); ok && st.start == p.last.start {
			return p.sample(p.last), nil
		}
	}
	run, err := p.scan(ctx)
	if err != nil {
		return Sample{}, err
	}
	p.last = run
	if run.pid == 0 {
		return Sample{}, nil
	}
	return p.sample(run), nil
}

func (p *ProcProbe) sample(r procRun) Sample {
	return Sample{
		Running:  true,
		Instance: "pid " + strconv.Itoa(r.pid),
		Started:  p.btime.Add(time.Duration(r.start) * time.Second / userHZ),
	}
}

// scan reads every process and returns the oldest that matches (pid 0 for
// none).
func (p *ProcProbe) scan(ctx context.Context) (procRun, error) {
	entries, err := os.ReadDir(p.cfg.Root)
	if err != nil {
		return procRun{}, fmt.Errorf("probe: %w", err)
	}
	var best procRun
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return procRun{}, err
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue // not a process
		}
		st, ok := p.match(pid)
		if !ok {
			continue
		}
		if best.pid == 0 || st.start < best.start || (st.start == best.start && pid < best.pid) {
			best = procRun{pid: pid, start: st.start}
		}
	}
	return best, nil
}

// match reads process pid and tells whether it is a live process of the
// service. A process that exits while it is read is simply no match.
func (p *ProcProbe) match(pid int) (procStat, bool) {
	dir := filepath.Join(p.cfg.Root, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procStat{}, false
	}
	st, err := parseStat(b)
	if err != nil || st.gone() {
		return procStat{}, false
	}
	if st.comm == truncate(p.cfg.Name, commLen) {
		return st, true
	}
	cmd, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return procStat{}, false
	}
	return st, matchesName(p.cfg.Name, st.comm, parseCmdline(cmd))
}
