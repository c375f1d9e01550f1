// Package config reads vigil's one YAML configuration file, fills in the
// documented defaults, and checks it before anything acts on it: every error
// names the key (its YAML path, and its line when known) and says how to fix
// it. It resolves each host's fencing topology (host override, then its
// failure domain, then "default") and maps the timings onto decision.Config.
// docs/configuration.md documents every key.
//
// The file holds credentials only by reference (password_file, password_env);
// an inline password is an error. Secrets are resolved by Device.Secret with
// functions passed in by main, and the package must never read the
// environment itself, log, print or put a secret into an error, and never
// accept a setting that would let vigil evacuate without a fence (a Nova
// force-down is a recovery step, not a fence device).
package config
