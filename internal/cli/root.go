package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const rootLong = `vigil — instance HA for OpenStack that fences before it evacuates

vigil decides that a compute host is dead from many independent signals (its
agent on every network, its peers, a storage heartbeat, its BMC, Nova), fences
it (IPMI, Redfish, fence agents, Ceph blocklisting) and verifies the fence,
and only then evacuates its instances through the Nova API. When it is not
sure, it does nothing and tells you why.

Run 'vigil COMMAND --help' for a command's flags and examples.`

// The groups the command list is shown in, in this order.
var groups = []*cobra.Group{
	{ID: "lab", Title: "Try it:"},
	{ID: "run", Title: "Run it:"},
	{ID: "ops", Title: "Operate it (through the leading controller's API):"},
}

// command is one of vigil's top-level commands, with either run or flags.
type command struct {
	group, use, short string
	// run parses the command's arguments, flags included, and prints its
	// --help.
	run func(args []string, env Env) error
	// flags defines the command's flags on fs and returns its --help text
	// (the flags are listed after it) and what runs with the positional
	// arguments.
	flags func(fs *pflag.FlagSet, env Env) (help string, run func(pos []string) error)
}

// ownHelp annotates a command whose --help is its own text, not cobra's:
// "args" when run prints it, "flags" when the command's help function does.
const ownHelp = "vigil.own-help"

func commands() []command {
	return []command{
		{"lab", "lab [run FILE...|fuzz]", "play the seed incident under the naive rule and under vigil; lab run FILE..., lab fuzz", lab, nil},
		{"run", "fence status|off|on|reboot|check|diag HOST --config FILE", "run a host's fencing topology by hand", fenceCmd, nil},
		{"run", "config check --config FILE", "validate a configuration file and show what it means", nil, configFlags},
		{"run", "keys new|host|rotate|retire --secrets FILE", "the keys that authenticate agent traffic", nil, keysFlags},
		{"run", "controller --config FILE", "judge, fence and evacuate (three, on one etcd)", nil, controllerFlags},
		{"run", "agent --config FILE", "the compute host's agent", nil, agentFlags},
		{"run", "gate GUEST OP SUBOP", "libvirt's qemu hook: no guest starts without a grant", gateCmd, nil},
		{"ops", "status", "every host's state, from the leading controller's API", nil, opsCommand("status")},
		{"ops", "explain HOST", "why a host is where it is, in plain words, and its last events", nil, opsCommand("explain")},
		{"ops", "plan HOST", "what vigil would do if a host failed now: a dry run, nothing is done", nil, opsCommand("plan")},
		{"ops", "history [HOST]", "the last transitions, actions, results and operators' commands", nil, opsCommand("history")},
		{"ops", "maintenance on|off HOST --reason TEXT", "hand a host to an operator (vigil does nothing to it), or back", nil, opsCommand("maintenance")},
		{"ops", "confirm HOST --reason TEXT", "vouch that a failed host is off: stands in for its fence", nil, opsCommand("confirm")},
		{"ops", "rejoin HOST --reason TEXT", "let a fenced host that is back and clean serve again (rejoin policy manual)", nil, opsCommand("rejoin")},
		{"ops", "release HOST", "let vigil fence a host the mass-failure brake holds", nil, opsCommand("release")},
		{"ops", "pause --reason TEXT", "fence no host until vigil resume (planned work); open incidents carry on", nil, opsCommand("pause")},
		{"ops", "resume", "end the pause", nil, opsCommand("resume")},
	}
}

// newRoot builds vigil's command tree, writing to env's streams.
func newRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "vigil",
		Short: "instance HA for OpenStack that fences before it evacuates",
		Long:  rootLong,
		// vigil alone prints the help; anything else that is not a
		// command is a usage error.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unknown command %q; run 'vigil help'", errUsage, args[0])
			}
			return cmd.Help()
		},
		SilenceUsage:          true,
		SilenceErrors:         true,
		DisableFlagsInUseLine: true,
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddGroup(groups...)
	for _, c := range commands() {
		run := c.run
		if run == nil {
			root.AddCommand(flagCommand(c, env))
			continue
		}
		root.AddCommand(&cobra.Command{
			Use:     c.use,
			Short:   c.short,
			GroupID: c.group,
			// The command parses its own flags and prints its own help.
			DisableFlagParsing: true,
			Annotations:        map[string]string{ownHelp: "args"},
			RunE: func(_ *cobra.Command, args []string) error {
				if err := run(args, env); !errors.Is(err, flag.ErrHelp) {
					return err
				}
				return nil // it printed its help; cobra must not print another
			},
		})
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "print vigil's version",
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(env.Stdout, "vigil", Version)
			return err
		},
	})
	root.AddCommand(&cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "write the command reference, one markdown page per command, into DIR (make docs: docs/cli)",
		Hidden: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: usage: vigil gen-docs DIR (the folder must exist)", errUsage)
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error { return genDocs(root, args[0], env) },
	})
	// vigil completion SHELL is cobra's; a shell it does not know is a
	// usage error, not its help.
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: completion %q: want bash, zsh, fish or powershell", errUsage, args[0])
			}
			return cmd.Help()
		}
		c.Args = cobra.ArbitraryArgs
	}
	// vigil help COMMAND prints what vigil COMMAND --help prints.
	cobraHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		if cmd.Annotations[ownHelp] != "args" {
			cobraHelp(cmd, args)
			return
		}
		if err := cmd.RunE(cmd, []string{"--help"}); err != nil {
			fmt.Fprintln(env.Stderr, "vigil:", err)
		}
	})
	return root
}

// flagError makes a bad flag a usage error that points at the command's
// --help; a long flag written with one dash, as Go's flag package took it
// (-reason), is told to take two.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		name, _, _ := strings.Cut(ne.GetSpecifiedShortnames(), "=")
		if len(name) > 1 && cmd.Flags().Lookup(name) != nil {
			return fmt.Errorf("%w: -%s: write --%s (a long flag takes two dashes)", errUsage, name, name)
		}
	}
	return fmt.Errorf("%w: %v (%s --help)", errUsage, err, cmd.CommandPath())
}

// flagCommand is c with cobra flags, printing its own --help text.
func flagCommand(c command, env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use: c.use, Short: c.short, GroupID: c.group,
		Args:        cobra.ArbitraryArgs, // run says what it wants
		Annotations: map[string]string{ownHelp: "flags"},
	}
	help, run := c.flags(cmd.Flags(), env)
	cmd.RunE = func(_ *cobra.Command, pos []string) error { return run(pos) }
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		fmt.Fprint(env.Stdout, help, "\nFlags:\n", cmd.LocalFlags().FlagUsages())
	})
	return cmd
}
