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

// Main runs vigil with args (without the program name) and returns the exit
// code.
func Main(args []string, env Env) int {
	switch {
	case len(args) == 0:
		args = []string{} // cobra reads os.Args when given nil
	case args[0] == "-help":
		args = append([]string{"--help"}, args[1:]...) // flag's spelling, which pflag reads as -h -e -l -p
	}
	root := newRoot(env)
	root.SetArgs(args)
	return exitCode(root.Execute(), env)
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
