package swarm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A fleet is a swarm split over several processes: each holds three
// sockets a host, and a process may hold no more files than its hard limit
// (20,000 here, and raising it needs CAP_SYS_RESOURCE).

// ShardEnv, set in a process's environment, makes TestMain run Serve.
const ShardEnv = "VIGIL_SWARM_SHARD"

// Serve runs the swarm configured by the first line of r (a Config as
// JSON), says "ready" once its sockets are bound, and answers each later
// line: "window" (the latencies since the last one, a Histogram) and
// "terms" (Swarm.Terms). It returns at EOF.
func Serve(r io.Reader, w io.Writer) error {
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	if !in.Scan() {
		return errors.New("swarm shard: no configuration")
	}
	var cfg Config
	if err := json.Unmarshal(in.Bytes(), &cfg); err != nil {
		return fmt.Errorf("swarm shard: configuration: %w", err)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	enc := json.NewEncoder(w)
	if err := enc.Encode("ready"); err != nil {
		return err
	}
	for in.Scan() {
		switch in.Text() {
		case "window":
			err = enc.Encode(s.Window())
		case "terms":
			err = enc.Encode(s.Terms())
		default:
			err = enc.Encode("unknown request " + strconv.Quote(in.Text()))
		}
		if err != nil {
			return err
		}
	}
	return in.Err()
}

// Fleet is a swarm run by several processes.
type Fleet struct {
	shards []*shard
}

type shard struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
}

// Spawn runs cfg's hosts in processes of at most per hosts each, every one
// the command argv with ShardEnv set (a test binary whose TestMain calls
// Serve), and returns once each has bound its sockets.
func Spawn(cfg Config, per int, argv []string) (*Fleet, error) {
	f := &Fleet{}
	for from := 0; from < cfg.Hosts; from += per {
		c := cfg
		c.From, c.To = from, min(from+per, cfg.Hosts)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), ShardEnv+"=1")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		in, err := cmd.StdinPipe()
		if err != nil {
			f.Close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			f.Close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.Close()
			return nil, err
		}
		s := &shard{cmd: cmd, in: in, out: json.NewDecoder(out)}
		f.shards = append(f.shards, s)
		b, _ := json.Marshal(c)
		if _, err := fmt.Fprintf(in, "%s\n", b); err != nil {
			f.Close()
			return nil, err
		}
	}
	for i, s := range f.shards {
		var ready string
		if err := s.out.Decode(&ready); err != nil || ready != "ready" {
			f.Close()
			return nil, fmt.Errorf("swarm shard %d did not start (%q): %v", i, ready, err)
		}
	}
	return f, nil
}

func (f *Fleet) ask(req string, each func(*json.Decoder) error) error {
	for _, s := range f.shards {
		if _, err := io.WriteString(s.in, req+"\n"); err != nil {
			return err
		}
	}
	for _, s := range f.shards {
		if err := each(s.out); err != nil {
			return fmt.Errorf("swarm shard: %s: %w", req, err)
		}
	}
	return nil
}

// Window is every shard's latencies since the last Window, merged.
func (f *Fleet) Window() (Histogram, error) {
	var h Histogram
	err := f.ask("window", func(d *json.Decoder) error {
		var x Histogram
		err := d.Decode(&x)
		h.Merge(x)
		return err
	})
	return h, err
}

// Terms is what every shard saw of every term, merged: the first grant of
// any, and every shard's hosts.
func (f *Fleet) Terms() (map[uint64]Term, error) {
	m := map[uint64]Term{}
	err := f.ask("terms", func(d *json.Decoder) error {
		var x map[string]Term
		if err := d.Decode(&x); err != nil {
			return err
		}
		for k, t := range x {
			tok, err := strconv.ParseUint(k, 10, 64)
			if err != nil {
				return err
			}
			o, ok := m[tok]
			if ok && o.First.Before(t.First) {
				t.First = o.First
			}
			t.Hosts += o.Hosts
			m[tok] = t
		}
		return nil
	})
	return m, err
}

// CPU is the fleet's processes' CPU time so far.
func (f *Fleet) CPU() (time.Duration, error) {
	var sum time.Duration
	for _, s := range f.shards {
		d, err := ProcessCPU(s.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// Close ends every shard.
func (f *Fleet) Close() {
	for _, s := range f.shards {
		_ = s.in.Close()
	}
	for _, s := range f.shards {
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
}

// ProcessCPU is pid's user and system CPU time so far (/proc/PID/stat).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command's closing parenthesis: state is field 3,
	// utime 14 and stime 15 (proc(5)), in clock ticks of 1/100 s.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(u+k) * 10 * time.Millisecond, nil
}
