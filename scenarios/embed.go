package scenarios

import "embed"

// FS holds every *.yaml file of this directory.
//
//go:embed *.yaml
var FS embed.FS

// Seed is the file `vigil lab` plays by default.
const Seed = "seed-incident.yaml"
