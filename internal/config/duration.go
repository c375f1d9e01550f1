package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in the file as a Go duration string:
// "10s", "1m30s", "250ms". A bare number is rejected, since it is unclear
// whether it means seconds or milliseconds.
type Duration time.Duration

func sec(n int) Duration { return Duration(time.Duration(n) * time.Second) }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// parseDuration reads a Go duration string and explains what is wrong.
func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number with a unit, e.g. 10s, 1m30s or 500ms", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML accepts a scalar Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 10s", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a duration string, so the file round-trips.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
