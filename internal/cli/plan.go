package cli

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/decision"
)

const planHelp = `vigil plan HOST — what vigil would do if HOST failed now

A dry run, for a runbook or before planned work: whether the cluster rules
would let vigil act right now, or what holds it (its pause and who set it,
the mass-failure brake, the controller's self-doubt, a new leader's grace,
maintenance) and what ends that; how it would fence HOST (its fence levels
and their devices, in order); which instances it would evacuate, in which
order, and which hosts the evacuations would avoid; and which instances it
would leave to you. The leading controller's engine answers with the rules
and the choices its incidents use; nothing is decided, written or alerted.
A reader's token is enough.

Usage:
  vigil plan HOST [--url URL] [--token-file FILE] [--ca FILE] [-o text|json]

Example:
  $ vigil plan cmp3
  If cmp3 failed now, vigil would act at once:
    1. Fence cmp3, trying its 2 fence levels in order until one is verified:
         level 1: ipmi (ipmi address=10.0.0.13 port=623 username=vigil)
         level 2: ceph-blocklist+ipmi
    2. Force nova-compute on cmp3 down in Nova, so that Nova accepts the
       evacuations at once.
    3. Evacuate 2 instances, in this order, avoiding cmp4 (suspect):
         1. vm1
         2. vm2 (stopped: it stays stopped on its target)
    4. Leave 1 instance to you:
         vm3: cmp2 runs it or writes its disk: vigil does not start a second
           copy; ...
  ...
  $ vigil plan cmp3      # while vigil is paused
  If cmp3 failed now, vigil would NOT act (paused): vigil is paused by alice (core
    switch upgrade) since 10:00:00: no host is fenced until vigil resume;
    incidents already open carry on.

  Once that ends, it would:
    1. Fence cmp3, ...
` + remoteHelp

// printHostPlan says, as a runbook would, what vigil would do if the host
// failed now.
func printHostPlan(env Env, p api.Plan) error {
	var b strings.Builder
	line := func(indent, s string) { b.WriteString(wrap(indent, s, 80, indent+"  ") + "\n") }
	item := func(indent, mark, s string) {
		b.WriteString(wrap(indent+mark, s, 80, indent+strings.Repeat(" ", len(mark))) + "\n")
	}
	switch {
	case p.Hold == "incident-open":
		line("", fmt.Sprintf("vigil is acting on %s already: %s.", p.Host, strings.TrimSuffix(p.Reason, ".")))
		if len(p.Instances) > 0 {
			b.WriteString("\nIts incident's instances, in the order they are evacuated:\n")
			for i, in := range p.Instances {
				item("  ", fmt.Sprintf("%d. ", i+1), instanceLine(in, true))
			}
		}
	case p.WouldAct:
		line("", fmt.Sprintf("If %s failed now, vigil would act at once:", p.Host))
		planSteps(&b, p)
	default:
		line("", fmt.Sprintf("If %s failed now, vigil would NOT act (%s): %s.", p.Host, p.Hold, strings.TrimSuffix(p.Reason, ".")))
		b.WriteString("\nOnce that ends, it would:\n")
		planSteps(&b, p)
	}
	b.WriteString("\n")
	line("", fmt.Sprintf("Now: %s is %s (%s).", p.Host, p.State, p.Rule))
	if len(p.Evidence) > 0 {
		line("", "Seen: "+strings.Join(p.Evidence, "; ")+".")
	}
	for _, n := range p.Notes {
		line("", "Note: "+n+".")
	}
	_, err := fmt.Fprint(env.Stdout, b.String())
	return err
}

// planSteps writes the incident a failure of the host would open, step by
// step: fence, force down, evacuate, leave to the operator.
func planSteps(b *strings.Builder, p api.Plan) {
	step := 0
	next := func(s string) {
		step++
		mark := fmt.Sprintf("%d. ", step)
		b.WriteString(wrap("  "+mark, s, 80, "  "+strings.Repeat(" ", len(mark))) + "\n")
	}
	sub := func(s string) { b.WriteString(wrap("       ", s, 80, "         ") + "\n") }

	switch len(p.Fence) {
	case 0:
		next(fmt.Sprintf("Fence %s (the controller did not say how).", p.Host))
	case 1:
		next(fmt.Sprintf("Fence %s, and verify the fence:", p.Host))
	default:
		next(fmt.Sprintf("Fence %s, trying its %d fence levels in order until one is verified:", p.Host, len(p.Fence)))
	}
	for _, l := range p.Fence {
		s := fmt.Sprintf("level %d: %s", l.Level, cmp.Or(l.Method, "(devices not named)"))
		if len(l.Devices) > 0 {
			s += " (" + strings.Join(l.Devices, "; ") + ")"
		}
		sub(s)
	}
	next(fmt.Sprintf("Force nova-compute on %s down in Nova, so that Nova accepts the evacuations at once.", p.Host))

	var evac, left []api.PlannedInstance
	for _, in := range p.Instances {
		if in.Action == decision.PlanOperator {
			left = append(left, in)
		} else {
			evac = append(evac, in)
		}
	}
	avoid := ""
	if len(p.Avoid) > 0 {
		var hs []string
		for _, a := range p.Avoid {
			hs = append(hs, fmt.Sprintf("%s (%s)", a.Host, a.State))
		}
		avoid = ", avoiding " + strings.Join(hs, ", ")
	}
	switch {
	case p.NovaUnread:
		next(fmt.Sprintf("Wait for Nova's list of the instances on %s (Nova has not been read yet), then evacuate them%s.", p.Host, avoid))
	case len(evac) == 0 && len(left) == 0:
		next(fmt.Sprintf("Evacuate nothing: Nova places no instance on %s.", p.Host))
	case len(evac) == 0:
		next("Evacuate nothing: vigil would move none of its instances.")
	default:
		next(fmt.Sprintf("Evacuate %s, in this order%s:", plural(len(evac), "instance"), avoid))
		for i, in := range evac {
			sub(fmt.Sprintf("%d. %s", i+1, instanceLine(in, false)))
		}
	}
	if len(left) > 0 {
		next(fmt.Sprintf("Leave %s to you:", plural(len(left), "instance")))
		for _, in := range left {
			sub(instanceLine(in, false))
		}
	}
}

// instanceLine says what vigil would do with one instance; withAction
// names the action (an open incident's list mixes them).
func instanceLine(in api.PlannedInstance, withAction bool) string {
	s := in.ID
	if withAction {
		s += ": " + in.Action
	}
	switch {
	case in.Action == decision.PlanOperator || in.Reason != "" && !in.Stopped:
		if in.Reason != "" {
			s += ": " + in.Reason
		}
	case in.Stopped:
		s += " (stopped: it stays stopped on its target)"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
