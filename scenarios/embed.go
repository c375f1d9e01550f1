// Package scenarios holds vigil's shipped scenario files (YAML) and embeds
// them so `vigil lab` runs without a checkout. docs/scenarios.md describes
// the language; internal/scenario parses and runs it.
package scenarios

import "embed"

// FS holds every *.yaml file of this directory.
//
//go:embed *.yaml
var FS embed.FS

// Seed is the file `vigil lab` plays by default.
const Seed = "seed-incident.yaml"
