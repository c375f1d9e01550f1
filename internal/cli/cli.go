package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Env is what a command may touch of the process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	ReadFile       func(string) ([]byte, error)
	// WriteFile writes a file only the user can read (0600); nil: none.
	WriteFile func(path string, data []byte) error
}

// errUsage means the arguments were wrong; the message says how.
var errUsage = errors.New("usage")

const topHelp = `vigil — instance HA for OpenStack that fences before it evacuates

vigil decides that a compute host is dead from many independent signals (its
agent on every network, its peers, a storage heartbeat, its BMC, Nova), fences
it (IPMI, Redfish, fence agents, Ceph blocklisting) and verifies the fence,
and only then evacuates its instances through the Nova API. When it is not
sure, it does nothing and tells you why.

Usage:
  vigil lab                      play the seed incident under the naive rule and under vigil
  vigil lab run FILE...          run scenario files in the simulator
  vigil lab fuzz                 random fault schedules against vigil's invariants
  vigil fence status|off|on|reboot|check|diag HOST --config FILE
                                 run a host's fencing topology by hand
  vigil config check --config FILE
                                 validate a configuration file and show what it means
  vigil keys new|host|rotate|retire --secrets FILE
                                 the keys that authenticate agent traffic
  vigil controller --config FILE judge, fence and evacuate (three, on one etcd)
  vigil agent --config FILE      the compute host's agent
  vigil gate GUEST OP SUBOP      libvirt's qemu hook: no guest starts without a grant
  vigil status                   every host's state, from the leading controller's API
  vigil explain HOST             why a host is where it is, in plain words, and its last events
  vigil history [HOST]           the last transitions, actions, results and operators' commands
  vigil maintenance on|off HOST --reason TEXT
                                 hand a host to an operator (vigil does nothing to it), or back
  vigil confirm HOST --reason TEXT
                                 vouch that a failed host is off: stands in for its fence
  vigil release HOST             let vigil fence a host the mass-failure brake holds
  vigil pause --reason TEXT      fence no host until vigil resume (planned work); open incidents carry on
  vigil resume                   end the pause
  vigil version

Run 'vigil COMMAND --help' for a command's flags and examples.
`

// Main runs vigil with args (without the program name) and returns the exit
// code.
func Main(args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stdout, topHelp)
		return 0
	}
	var err error
	switch args[0] {
	case "lab":
		err = lab(args[1:], env)
	case "fence":
		err = fenceCmd(args[1:], env)
	case "config":
		err = configCmd(args[1:], env)
	case "keys":
		err = keysCmd(args[1:], env)
	case "controller":
		err = controllerCmd(args[1:], env)
	case "agent":
		err = agentCmd(args[1:], env)
	case "gate":
		err = gateCmd(args[1:], env)
	case "status", "explain", "history", "maintenance", "confirm", "release", "pause", "resume":
		err = opsCmd(args[0], args[1:], env)
	case "version":
		fmt.Fprintln(env.Stdout, "vigil", Version)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, topHelp)
	default:
		err = fmt.Errorf("%w: unknown command %q; run 'vigil help'", errUsage, args[0])
	}
	return exitCode(err, env)
}

// Version is set at build time with -ldflags "-X ...cli.Version=…".
var Version = "dev"

// errFailed means the command ran and found failures it already printed.
var errFailed = errors.New("failed")

func exitCode(err error, env Env) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFailed):
		return 1
	case errors.Is(err, errUsage):
		fmt.Fprintln(env.Stderr, "vigil:", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	default:
		fmt.Fprintln(env.Stderr, "vigil:", err)
		return 1
	}
}

// newFlags returns a flag set whose -help prints the given text.
func newFlags(name, help string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stdout, help)
		fmt.Fprintln(env.Stdout, "\nFlags:")
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(env.Stderr)
	}
	return fs
}

// parse parses flags anywhere among the arguments (flag stops at the first
// positional one; operators write flags after the file names too).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
