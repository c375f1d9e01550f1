package config

import (
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redacted returns a deep copy fit to print or log. The file holds
// credentials only by reference, so there is normally nothing to hide;
// but a fence agent option that looks like a secret (which Validate
// rejects, yet a parsed, unvalidated Config may hold) is masked anyway.
func (c Config) Redacted() Config {
	out := c
	out.Networks = slices.Clone(c.Networks)
	out.Hosts = slices.Clone(c.Hosts)
	for i := range out.Hosts {
		out.Hosts[i].StorageIPs = slices.Clone(c.Hosts[i].StorageIPs)
		out.Hosts[i].Fencing = redactTopology(c.Hosts[i].Fencing)
	}
	if c.Fencing.Domains != nil {
		out.Fencing.Domains = make(map[string]Topology, len(c.Fencing.Domains))
		for k, t := range c.Fencing.Domains {
			out.Fencing.Domains[k] = redactTopology(t)
		}
	}
	return out
}

func redactTopology(t Topology) Topology {
	if t.Levels == nil {
		return t
	}
	levels := make([][]Device, len(t.Levels))
	for i, level := range t.Levels {
		levels[i] = slices.Clone(level)
		for j := range levels[i] {
			d := &levels[i][j]
			d.StorageIPs = slices.Clone(d.StorageIPs)
			d.Options = maps.Clone(d.Options)
			for k, v := range d.Options {
				d.Options[k] = redactOption(k, v)
			}
		}
	}
	return Topology{Levels: levels}
}

// String renders the redacted configuration as YAML.
func (c Config) String() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.Redacted()); err != nil {
		return "config: " + err.Error()
	}
	return b.String()
}
