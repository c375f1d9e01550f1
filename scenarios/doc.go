// Package scenarios holds vigil's shipped scenario files (YAML) and embeds
// them so `vigil lab` runs without a checkout. docs/scenarios.md describes
// the language; internal/scenario parses and runs it.
//
// It must hold nothing but scenario files and their embedding.
package scenarios
