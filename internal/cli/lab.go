package cli

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/chaos"
	"github.com/vigil-ha/vigil/internal/scenario"
	"github.com/vigil-ha/vigil/scenarios"
	"gopkg.in/yaml.v3"
)

const labHelp = `vigil lab — vigil's judgement in a simulated cloud, in virtual time

  vigil lab [--policy vigil|naive]
      Plays the seed incident (nova-compute restarted on cmp1 while its VMs keep
      running) and prints a timeline and a verdict. Without --policy it plays it
      twice: first with the seed's naive rule ("Nova says down → evacuate"), then
      with vigil.

  vigil lab run [--policy vigil|naive] [--timeline] FILE...
      Runs scenario files (see docs/scenarios.md; shipped ones are in scenarios/).
      One result line per scenario; exits 1 when any expectation fails.
      A name without a path (e.g. power-loss.yaml) is taken from the shipped set.

  vigil lab fuzz [--schedules N] [--seed S] [--policy vigil|naive] [--hosts MIN-MAX] [--mix CLASSES] [--gate all|safety]
      Generates N random fault schedules and checks vigil's invariants: no double
      writer, no lost HA instance, no evacuation without a verified fence, nothing
      done to a host in maintenance. A failing schedule is shrunk and printed as a
      scenario file you can replay with 'vigil lab run'. Use a fresh --seed each
      time: a seed that passed proves only that seed.
      --hosts 3-50        cluster sizes drawn from (default 3-12); racks of 3-6
                          hosts as failure domains from 6 hosts on
      --mix rack=1        fault classes and weights (default classic=6,rack=2,
                          isolation=2,leader=1,world=1,device=1): classic one-host
                          faults; rack: hosts cut off together, BMCs lost with
                          them; isolation: a host cut off, then its agent stopped,
                          restarted, crashed or its power cycled; leader: killed,
                          stalled, cut off etcd; world: clock rates within the
                          safe-time margin and message delay; device: an agent
                          configured with longer timeouts, often on a watchdog
                          that rounds up, restarted and crashed while cut off
      --gate safety       fail only on safety (double writers, evacuations
                          without a fence, resets counted that did not happen,
                          actions in maintenance); liveness failures (instances
                          lost or held) are printed but exit 0 (default: all)
`

func lab(args []string, env Env) error {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			return labRun(args[1:], env)
		case "fuzz":
			return labFuzz(args[1:], env)
		}
	}
	fl := newFlags("lab", labHelp, env)
	policy := fl.String("policy", "", "play only this policy: vigil or naive (default: both)")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: lab: unexpected %q; did you mean 'vigil lab run %s'?", errUsage, pos[0], pos[0])
	}
	s, err := load(scenarios.Seed, env)
	if err != nil {
		return err
	}
	policies := []string{scenario.PolicyNaive, scenario.PolicyVigil}
	if *policy != "" {
		if err := checkPolicy(*policy); err != nil {
			return err
		}
		policies = []string{*policy}
	}
	out := env.Stdout
	fmt.Fprintf(out, "The seed incident: %s.\n", s.About)
	fmt.Fprintf(out, "Cluster: %d hosts, %d instances on Ceph RBD; Nova report_interval %v, service_down_time %v.\n",
		s.Cluster.Hosts, s.Cluster.Instances, time.Duration(s.Nova.ReportInterval), time.Duration(s.Nova.ServiceDownTime))
	var verdicts []string
	for _, p := range policies {
		r, err := s.Run(p)
		if err != nil {
			return err
		}
		title := map[string]string{
			scenario.PolicyNaive: `policy naive — the seed's script: "nova service-list says down → evacuate"`,
			scenario.PolicyVigil: "policy vigil — many signals, fence and verify, then evacuate",
		}[p]
		fmt.Fprintf(out, "\n== %s\n\n", title)
		fmt.Fprint(out, r.FormatTimeline())
		v := verdict(r)
		fmt.Fprintf(out, "\nverdict: %s\n", v)
		verdicts = append(verdicts, v)
	}
	if len(verdicts) > 1 {
		fmt.Fprintln(out, "\n== side by side")
		for _, v := range verdicts {
			fmt.Fprintln(out, "  "+v)
		}
	}
	return nil
}

// verdict says in one line what a run did to the instances.
func verdict(r *scenario.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", r.Policy)
	switch {
	case len(r.DoubleWriters) > 0:
		fmt.Fprintf(&b, "evacuated %d instances (%s) while their host still ran them → DOUBLE WRITERS on %d disks (%s). On real RBD this is the seed's destroyed XFS.",
			len(r.Evacuated), strings.Join(r.Evacuated, ", "), len(r.DoubleWriters), strings.Join(r.DoubleWriters, ", "))
	case len(r.Evacuated) == 0:
		fmt.Fprintf(&b, "no evacuation, no fence, 0 double writers; final states %s — a service restart is not a host failure.", states(r))
	default:
		fmt.Fprintf(&b, "fenced %s, evacuated %d instances, 0 double writers.", strings.Join(r.Fenced, ", "), len(r.Evacuated))
	}
	if len(r.Lost) > 0 {
		fmt.Fprintf(&b, " Lost: %s.", strings.Join(r.Lost, ", "))
	}
	return b.String()
}

func states(r *scenario.Result) string {
	var parts []string
	for _, h := range r.Scenario.HostNames() {
		parts = append(parts, h+"="+r.States[h])
	}
	return strings.Join(parts, " ")
}

func checkPolicy(p string) error {
	if p != scenario.PolicyVigil && p != scenario.PolicyNaive {
		return fmt.Errorf("%w: --policy %q: use vigil or naive", errUsage, p)
	}
	return nil
}

// load reads a scenario file, or a shipped one by bare name.
func load(name string, env Env) (*scenario.Scenario, error) {
	data, err := env.ReadFile(name)
	if err != nil && filepath.Base(name) == name {
		data, err = fs.ReadFile(scenarios.FS, name)
	}
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	s, err := scenario.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func labRun(args []string, env Env) error {
	fl := newFlags("lab run", labHelp, env)
	policy := fl.String("policy", scenario.PolicyVigil, "vigil or naive")
	timeline := fl.Bool("timeline", false, "print each scenario's timeline")
	files, err := parse(fl, args)
	if err != nil {
		return err
	}
	if err := checkPolicy(*policy); err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: lab run needs scenario files, e.g. vigil lab run scenarios/*.yaml", errUsage)
	}
	failed := 0
	for _, f := range files {
		s, err := load(f, env)
		if err != nil {
			return err
		}
		r, err := s.Run(*policy)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if *timeline {
			fmt.Fprintf(env.Stdout, "\n== %s: %s\n", s.Name, s.About)
			fmt.Fprint(env.Stdout, r.FormatTimeline())
		}
		fmt.Fprintln(env.Stdout, r.Summary())
		if !r.Pass() {
			failed++
			fmt.Fprint(env.Stdout, r.Explain())
		}
	}
	fmt.Fprintf(env.Stdout, "%d scenarios, %d passed, %d failed\n", len(files), len(files)-failed, failed)
	if failed > 0 {
		return errFailed
	}
	return nil
}

func labFuzz(args []string, env Env) error {
	fl := newFlags("lab fuzz", labHelp, env)
	n := fl.Int("schedules", 1000, "number of random schedules")
	seed := fl.Int64("seed", 1, "first seed; schedule i uses seed+i")
	policy := fl.String("policy", scenario.PolicyVigil, "vigil or naive")
	hosts := fl.String("hosts", "3-12", "cluster size range MIN-MAX (3..200)")
	mix := fl.String("mix", "", "fault classes and weights, e.g. classic=6,rack=2,isolation=2,leader=1,world=1,device=1 (the default)")
	gate := fl.String("gate", "all", "which broken invariants fail the run: all, or safety (liveness failures are printed, exit 0)")
	pos, err := parse(fl, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: lab fuzz takes no files, got %q", errUsage, pos[0])
	}
	gen, err := genOptions(*hosts, *mix)
	if err != nil {
		return err
	}
	if err := checkPolicy(*policy); err != nil {
		return err
	}
	if *gate != "all" && *gate != "safety" {
		return fmt.Errorf("%w: --gate: %q is not all or safety", errUsage, *gate)
	}
	if *n < 1 {
		return fmt.Errorf("%w: --schedules must be at least 1", errUsage)
	}
	start := time.Now()
	step := max(*n/10, 1)
	rep, err := chaos.Run(chaos.Options{Schedules: *n, Seed: *seed, Policy: *policy, Gen: gen, Progress: func(done int) {
		if done%step == 0 || done == *n {
			fmt.Fprintf(env.Stderr, "  %d/%d schedules checked (%.1fs)\n", done, *n, time.Since(start).Seconds())
		}
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "fuzz: %d schedules (seeds %d..%d), policy %s: %d broke an invariant (%.1fs)\n",
		rep.Schedules, *seed, *seed+int64(*n)-1, *policy, len(rep.Failures), time.Since(start).Seconds())
	fmt.Fprintf(env.Stdout, "exercised: %d hosts fenced, %d instances evacuated, %d instances held for an operator\n",
		rep.Fenced, rep.Evacuated, rep.Held)
	fmt.Fprintf(env.Stdout, "fences sent while the host's agent ran and reached the controllers: %d (not an invariant)\n", rep.LiveFenced)
	if len(rep.Failures) == 0 {
		return nil
	}
	for i, f := range rep.Failures {
		if i == 3 {
			fmt.Fprintf(env.Stdout, "… and %d more\n", len(rep.Failures)-3)
			break
		}
		fmt.Fprintf(env.Stdout, "\n# schedule %d (seed %d) broke:\n", f.Index, f.Seed)
		for _, b := range f.Broken {
			fmt.Fprintf(env.Stdout, "#   %s\n", b)
		}
		fmt.Fprintln(env.Stdout, "# minimal schedule (save as a file and run: vigil lab run FILE):")
		y, err := yaml.Marshal(f.Minimal)
		if err != nil {
			return err
		}
		fmt.Fprint(env.Stdout, string(y))
	}
	if *gate == "safety" {
		unsafe := 0
		for _, f := range rep.Failures {
			if f.Safety {
				unsafe++
			}
		}
		fmt.Fprintf(env.Stdout, "\nfuzz: %d of the %d broke a safety invariant (--gate safety: only those fail the run)\n", unsafe, len(rep.Failures))
		if unsafe == 0 {
			return nil
		}
	}
	return errFailed
}

// genOptions reads --hosts MIN-MAX and --mix.
func genOptions(hosts, mix string) (chaos.Gen, error) {
	var g chaos.Gen
	lo, hi, ok := strings.Cut(hosts, "-")
	if !ok {
		lo, hi = hosts, hosts
	}
	var err1, err2 error
	g.MinHosts, err1 = strconv.Atoi(lo)
	g.MaxHosts, err2 = strconv.Atoi(hi)
	if err1 != nil || err2 != nil || g.MinHosts < 3 || g.MaxHosts > 200 || g.MinHosts > g.MaxHosts {
		return g, fmt.Errorf("%w: --hosts %q: want MIN-MAX with 3 <= MIN <= MAX <= 200, e.g. 3-50", errUsage, hosts)
	}
	if mix != "" {
		c, err := chaos.ParseClasses(mix)
		if err != nil {
			return g, fmt.Errorf("%w: %v", errUsage, err)
		}
		g.Classes = c
	}
	return g, nil
}
