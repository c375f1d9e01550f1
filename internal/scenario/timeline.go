package scenario

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Line is one timeline entry.
type Line struct {
	At     time.Duration
	Host   string
	Kind   string // "world", "state", "action"
	Text   string
	Detail string
}

// Timeline merges what happened in the world with what the controller
// decided, in time order.
func (r *Result) Timeline() []Line {
	// At one instant the controller's decisions come first: the world
	// changes they cause are logged at the same virtual time.
	var out []Line
	for _, e := range r.Controller.Log {
		out = append(out, Line{At: e.At, Host: e.Host, Kind: e.Kind, Text: e.Text, Detail: e.Detail})
	}
	for _, e := range r.World.Events {
		out = append(out, Line{At: e.At, Host: e.Host, Kind: "world", Text: e.What})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// FormatTimeline renders the timeline for a terminal. Evidence is wrapped
// under its line.
func (r *Result) FormatTimeline() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %7.1fs  %-6s %-6s %s\n", 0.0, "-", "world", fmt.Sprintf("%d hosts up, %d instances running; vigil learns each host within a second", r.Scenario.Cluster.Hosts, r.Scenario.Cluster.Instances))
	for _, l := range r.Timeline() {
		if l.Kind == "state" && strings.HasPrefix(l.Text, "unknown → healthy") {
			continue // start-up and failover: the controller meets each host
		}
		host := l.Host
		if host == "" {
			host = "-"
		}
		fmt.Fprintf(&b, "  %7.1fs  %-6s %-6s %s\n", l.At.Seconds(), host, l.Kind, l.Text)
		if l.Detail != "" {
			fmt.Fprintf(&b, "  %7s   %-6s %-6s   why: %s\n", "", "", "", l.Detail)
		}
	}
	return b.String()
}
