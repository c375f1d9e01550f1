package cli

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// helpedActions are the actions of a command that print a --help of their
// own, not the command's: the reference shows those too.
var helpedActions = map[string][]string{"fence": {"diag"}}

// genDocs writes one markdown page per command under dir (docs/cli):
// what cobra knows of it (use, short, long, flags, subcommands) and, for
// a command with a help text of its own, exactly what its --help prints.
func genDocs(root *cobra.Command, dir string, env Env) error {
	if env.WriteFile == nil {
		return fmt.Errorf("gen-docs: this vigil cannot write files")
	}
	pages, err := docPages(root)
	if err != nil {
		return err
	}
	for name, text := range pages {
		if err := env.WriteFile(filepath.Join(dir, name), []byte(text)); err != nil {
			return fmt.Errorf("gen-docs: %w", err)
		}
	}
	return nil
}

// docPages returns the reference pages by file name.
func docPages(root *cobra.Command) (map[string]string, error) {
	pages := map[string]string{}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		text, err := docPage(c)
		if err != nil {
			return err
		}
		pages[pageName(c)] = text
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return pages, walk(root)
}

func pageName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

func docPage(c *cobra.Command) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", c.CommandPath())
	if c.HasParent() {
		fmt.Fprintf(&b, "`%s %s`\n\n", c.Parent().CommandPath(), c.Use)
	}
	fmt.Fprintf(&b, "%s\n", c.Short)
	if c.Long != "" {
		fmt.Fprintf(&b, "\n```text\n%s\n```\n", strings.TrimSpace(c.Long))
	}
	if c.Annotations[ownHelp] != "" {
		args := strings.Fields(c.CommandPath())[1:]
		if err := helpSection(&b, args); err != nil {
			return "", err
		}
		for _, a := range helpedActions[c.Name()] {
			if err := helpSection(&b, append(args, a)); err != nil {
				return "", err
			}
		}
	} else if fl := c.LocalNonPersistentFlags().FlagUsages(); fl != "" {
		fmt.Fprintf(&b, "\n## Flags\n\n```text\n%s```\n", fl)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\n## Commands\n\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(&b, "- [%s](%s): %s\n", sub.CommandPath(), pageName(sub), sub.Short)
			}
		}
	}
	return b.String(), nil
}

// helpSection appends what vigil ARGS --help prints, run with no
// environment so that defaults read from it are the built-in ones.
func helpSection(b *strings.Builder, args []string) error {
	var out, errOut bytes.Buffer
	args = append(args, "--help")
	env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if code := Main(args, env); code != 0 {
		return fmt.Errorf("gen-docs: vigil %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	fmt.Fprintf(b, "\n## vigil %s\n\n```text\n%s\n```\n", strings.Join(args, " "), strings.TrimRight(out.String(), "\n"))
	return nil
}
