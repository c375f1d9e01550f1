package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/spf13/pflag"

	"github.com/vigil-ha/vigil/internal/wire"
)

const keysHelp = `vigil keys — the keys that authenticate and encrypt agent traffic

Controllers hold the cluster secret; each compute host holds only its own
key, derived from it, so a host broken into can speak only as itself
(docs/architecture.md, "The wire"). A file holds one generation of keys, or
two while rotating.

Usage:
  vigil keys new --secrets FILE
      Create the cluster secret file (generation 1). Refuses to overwrite one.
  vigil keys host HOST... --secrets FILE --out DIR
      Write DIR/HOST.key for each host: what that host's agent reads
      (agent key_file). Copy each to its host alone, mode 0600.
  vigil keys rotate --secrets FILE
      Add the next generation. Then, in this order: restart the controllers
      with the new file; write and install every host's new key file (keys
      host); once every host runs its new key, retire the old generation.
  vigil keys retire --secrets FILE
      Drop the oldest generation, after every host has its new key; then
      write the host files again (keys host) and install them.

Examples:
  vigil keys new --secrets /etc/vigil/cluster.secret
  vigil keys host cmp1 cmp2 cmp3 --secrets /etc/vigil/cluster.secret --out /root/vigil-keys
`

// keysFlags is command flags for vigil keys.
func keysFlags(flags *pflag.FlagSet, env Env) (string, func([]string) error) {
	secrets := flags.String("secrets", "", "the cluster secret file (controllers only)")
	out := flags.String("out", "", "keys host: the directory to write HOST.key files into")
	return keysHelp, func(pos []string) error { return keysCmd(pos, *secrets, *out, env) }
}

// keysCmd runs vigil keys with its positional arguments: the action, then
// its own.
func keysCmd(args []string, secrets, out string, env Env) error {
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(env.Stdout, keysHelp)
		return nil
	}
	pos := args[1:]
	if !slices.Contains([]string{"new", "rotate", "retire", "host"}, args[0]) {
		return fmt.Errorf("%w: unknown keys command %q; run 'vigil keys --help'", errUsage, args[0])
	}
	if secrets == "" {
		return fmt.Errorf("%w: keys %s: --secrets FILE is required", errUsage, args[0])
	}
	if env.WriteFile == nil {
		return errors.New("keys: this build cannot write files")
	}
	switch args[0] {
	case "new":
		if len(pos) > 0 {
			return fmt.Errorf("%w: keys new takes no arguments, got %q", errUsage, pos)
		}
		if exists(env, secrets) {
			return fmt.Errorf("keys new: %s exists: it may be the secret every host's key derives from; use keys rotate to add a generation, or remove it yourself", secrets)
		}
		s, err := wire.NewSecret(1)
		if err != nil {
			return err
		}
		if err := env.WriteFile(secrets, wire.FormatSecrets([]wire.Secret{s})); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "wrote %s (generation 1, mode 0600); next: vigil keys host HOST... --secrets %s --out DIR\n", secrets, secrets)
	case "rotate", "retire":
		if len(pos) > 0 {
			return fmt.Errorf("%w: keys %s takes no arguments, got %q", errUsage, args[0], pos)
		}
		cur, err := wire.LoadSecrets(secrets)
		if err != nil {
			return err
		}
		return rotate(env, secrets, cur, args[0] == "rotate")
	case "host":
		if len(pos) == 0 {
			return fmt.Errorf("%w: keys host: name at least one host (as Nova knows it)", errUsage)
		}
		if out == "" {
			return fmt.Errorf("%w: keys host: --out DIR is required", errUsage)
		}
		cur, err := wire.LoadSecrets(secrets)
		if err != nil {
			return err
		}
		for _, h := range pos {
			b, err := wire.FormatHostKeys(cur, h)
			if err != nil {
				return fmt.Errorf("keys host %s: %w", h, err)
			}
			p := filepath.Join(out, h+".key")
			if err := env.WriteFile(p, b); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %s (%d generation(s))\n", p, len(cur))
		}
	}
	return nil
}

// rotate adds the next generation to the secret file, or retires the oldest.
func rotate(env Env, path string, cur []wire.Secret, add bool) error {
	slices.SortFunc(cur, func(a, b wire.Secret) int { return int(a.ID) - int(b.ID) })
	if add {
		if len(cur) >= 2 {
			return fmt.Errorf("keys rotate: %s holds generations %d and %d: a rotation is under way; finish it first (vigil keys retire --secrets %s, once every host has its new key)", path, cur[0].ID, cur[1].ID, path)
		}
		next, err := wire.NewSecret(cur[len(cur)-1].ID + 1)
		if err != nil {
			return err
		}
		if err := env.WriteFile(path, wire.FormatSecrets(append(cur, next))); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "added generation %d to %s; now restart the controllers with it, then write and install every host's key file (vigil keys host), then retire generation %d\n", next.ID, path, cur[0].ID)
		return nil
	}
	if len(cur) < 2 {
		return fmt.Errorf("keys retire: %s holds one generation (%d): nothing to retire; rotate first", path, cur[0].ID)
	}
	if err := env.WriteFile(path, wire.FormatSecrets(cur[1:])); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "retired generation %d from %s; restart the controllers, then write and install every host's key file again (vigil keys host)\n", cur[0].ID, path)
	return nil
}

func exists(env Env, path string) bool {
	_, err := env.ReadFile(path)
	return !errors.Is(err, fs.ErrNotExist)
}
