package cli

import "fmt"

func fence(args []string, env Env) error {
	return fmt.Errorf("%w: fence: not built yet", errUsage)
}
