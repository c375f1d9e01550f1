package decision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the incident scripts in testdata/. Each file is one
// cluster, one engine and one virtual clock, told as a story: what the hosts
// did, what the controller observed, and what the engine decided. Regenerate
// the expected output with
//
//	go test ./internal/decision/ -run TestInteraction -rewrite
//
// and read the diff as you would read an incident log.
//
// Commands (inputs are stepped at the current virtual time):
//
//	config key=value ...                 engine Config over DefaultConfig (first, or defaults are used);
//	                                     rejoin=auto|manual is the rejoin policy (default manual)
//	hosts cmp1 cmp2 [domain=rack1]       add hosts
//	leader [off]                         gain (or lose) leadership
//	stopping cmp1                        the agent's clean-stop notice (acknowledged)
//	at 12s                               set the virtual clock (never backwards)
//	report cmp1 mgmt storage [nova-compute=down] [libvirtd=down] [domains=vm1,vm2]
//	       [watchdog[=off]] [boot=b2]    agent report on the named networks; the
//	                                     self-report is remembered for run. Every
//	                                     agent report (here and in run) is answered
//	                                     with Engine.Grant, as the controller does
//	peer cmp2->cmp1 storage [mgmt] [unreachable]
//	storage cmp1=5 cmp2=7 | storage unreadable
//	bmc cmp1 on|off|unreachable          a BMC read (run repeats it every step)
//	nova cmp1 up|down [forced] [disabled] [instances=vm1,vm2] [status=vm2:SHUTOFF]   (run repeats it)
//	fence-result cmp1 level=1 ok|fail [method=ipmi] [proof=(..)] [err=(..)]
//	             [aborted=answers|cancelled]   stopped before the power-off
//	evac-result cmp1 vm1 ok|fail [target=cmp2] [err=(..)] [accepted] [fence=lifted|unreadable]
//	                                     (ok: later Nova reads place vm1 on its
//	                                     target; accepted: Nova took the call;
//	                                     fence=: the executor's re-read stopped it)
//	confirm cmp1 [by=alice]   release cmp1 [by=alice]   maintenance cmp1 on|off
//	rejoin cmp1 [by=alice]               an operator lets a rejoining host back
//	tick                                 Tick and print what was decided
//	paths cmp1 [agent=storage] [peers=mgmt,storage] [storage] | paths cmp1 all|none|clear
//	                                     what still works from cmp1 during run
//	run 20s [every=1s] [healthy=cmp2,cmp3]
//	                                     advance the clock; every step feeds agent
//	                                     reports, peer probes and one storage read
//	                                     (healthy hosts on every path, hosts with
//	                                     a paths profile by it, the rest nothing),
//	                                     repeats BMC and Nova reads, and ticks;
//	                                     prints only what the ticks decided
//	status                               every host's state
//	plan cmp1                            what vigil would do if cmp1 failed now
//	                                     (Engine.Plan); it changes nothing
//	pause [by=alice] [reason=(..)] | resume   an operator's pause, and its end
//	failover                             a new engine restored from the persisted
//	                                     records (it follows until `leader`)
//
// status prints, under a host a cluster rule holds, why and what ends the hold.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := newHarness()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := h.handle(d)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.Pos, d.Cmd, err)
			}
			return out
		})
	})
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// profile is what still works from a host while run feeds the engine.
type profile struct {
	agent, peers []string // networks
	storage      bool     // heartbeat counter advances
}

type harness struct {
	cfg   Config
	e     *Engine
	now   time.Time
	hosts []HostInfo

	self    map[string]SelfReport
	paths   map[string]profile
	counter map[string]uint64
	blind   bool // storage heartbeats unreadable
	bmc     map[string]Power
	nova    map[string]NovaService
	maint   map[string]bool
	store   map[string]Record // what the controller persisted from Ready.Records
}

func newHarness() *harness {
	return &harness{
		cfg: DefaultConfig(), now: epoch,
		self: map[string]SelfReport{}, paths: map[string]profile{}, counter: map[string]uint64{},
		bmc: map[string]Power{}, nova: map[string]NovaService{}, maint: map[string]bool{},
		store: map[string]Record{},
	}
}

func (h *harness) engine() (*Engine, error) {
	if h.e == nil {
		e, err := New(h.cfg)
		if err != nil {
			return nil, err
		}
		h.e = e
	}
	return h.e, nil
}

func (h *harness) step(in Input) error {
	e, err := h.engine()
	if err != nil {
		return err
	}
	e.Step(h.now, in)
	if r, ok := in.(AgentReport); ok {
		// The controller answers every report with a grant when it may.
		h.grant(r)
	}
	return nil
}

// grant asks for r's grant, and the agent process keeps the ticket it hands
// out, to echo it from its next report on.
func (h *harness) grant(r AgentReport) {
	g, err := h.e.Grant(h.now, r)
	if s := h.self[r.Host]; err == nil && !g.Ticket.IsZero() && g.Agent == s.Agent {
		s.Ticket = g.Ticket
		h.self[r.Host] = s
	}
}

func (h *harness) handle(d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "config":
		return h.config(d)
	case "hosts":
		return "", h.addHosts(d)
	case "leader":
		return "", h.step(Leadership{Leader: !d.HasArg("off")})
	case "stopping":
		if len(d.CmdArgs) != 1 {
			return "", fmt.Errorf("usage: stopping cmp1")
		}
		name := d.CmdArgs[0].Key
		s := h.self[name]
		return "", h.step(AgentStopping{Host: name, BootID: s.BootID, Agent: s.Agent, Ticket: s.Ticket, Seq: s.Seq})
	case "at":
		dur, err := durArg(d, 0)
		if err != nil {
			return "", err
		}
		at := epoch.Add(dur)
		if at.Before(h.now) {
			return "", fmt.Errorf("the clock never goes back: at %v, asked for %v", h.now.Sub(epoch), dur)
		}
		h.now = at
		return "", nil
	case "report":
		return "", h.report(d)
	case "peer":
		return "", h.peer(d)
	case "storage":
		return "", h.storage(d)
	case "bmc":
		return "", h.bmcRead(d)
	case "nova":
		return "", h.novaRead(d)
	case "fence-result":
		return "", h.fenceResult(d)
	case "evac-result":
		return "", h.evacResult(d)
	case "confirm", "release", "rejoin":
		name, err := posArg(d, 0)
		if err != nil {
			return "", err
		}
		by := "operator"
		if a, ok := d.Arg("by"); ok && len(a.Vals) == 1 {
			by = a.Vals[0]
		}
		switch d.Cmd {
		case "confirm":
			return "", h.step(Confirm{Host: name, By: by})
		case "rejoin":
			return "", h.step(Rejoin{Host: name, By: by})
		}
		return "", h.step(Release{Host: name, By: by})
	case "maintenance":
		name, err := posArg(d, 0)
		if err != nil {
			return "", err
		}
		on := d.HasArg("on")
		if !on && !d.HasArg("off") {
			return "", fmt.Errorf("maintenance needs on or off")
		}
		h.maint[name] = on
		return "", h.step(SetMaintenance{Host: name, On: on})
	case "tick":
		e, err := h.engine()
		if err != nil {
			return "", err
		}
		out := h.format(e.Tick(h.now))
		if out == "" {
			return "no change\n", nil
		}
		return out, nil
	case "paths":
		return "", h.setPaths(d)
	case "run":
		return h.run(d)
	case "status":
		return h.status()
	case "plan":
		return h.plan(d)
	case "pause", "resume":
		p := SetPause{On: d.Cmd == "pause", By: "operator"}
		if a, ok := d.Arg("by"); ok {
			p.By = strings.Join(a.Vals, ", ")
		}
		if a, ok := d.Arg("reason"); ok {
			p.Reason = strings.Join(a.Vals, ", ")
		}
		return "", h.step(p)
	case "failover":
		return h.failover()
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func (h *harness) config(d *datadriven.TestData) (string, error) {
	if h.e != nil {
		return "", fmt.Errorf("config must come before anything that uses the engine")
	}
	c := &h.cfg
	durs := map[string]*time.Duration{
		"agent_timeout": &c.AgentTimeout, "peer_timeout": &c.PeerTimeout,
		"storage_timeout": &c.StorageTimeout, "dead_after": &c.DeadAfter,
		"bmc_freshness": &c.BMCFreshness, "fence_retry": &c.FenceRetry,
		"fence_retry_max": &c.FenceRetryMax, "evacuate_retry": &c.EvacuateRetry,
		"brake_window": &c.BrakeWindow, "failover_grace": &c.FailoverGrace,
		"self_fence_after": &c.SelfFenceAfter,
	}
	ints := map[string]*int{
		"fence_levels": &c.FenceLevels, "max_concurrent_fences": &c.MaxConcurrentFences,
		"evacuate_attempts": &c.EvacuateAttempts, "brake_max_hosts": &c.BrakeMaxHosts,
		"doubt_min_hosts": &c.DoubtMinHosts,
	}
	floats := map[string]*float64{"brake_max_fraction": &c.BrakeMaxFraction, "doubt_fraction": &c.DoubtFraction}
	for _, a := range d.CmdArgs {
		v := strings.Join(a.Vals, ",")
		var err error
		switch {
		case a.Key == "networks":
			c.Networks = splitList(a.Vals)
		case a.Key == "rejoin":
			c.Rejoin = RejoinPolicy(v)
		case durs[a.Key] != nil:
			*durs[a.Key], err = time.ParseDuration(v)
		case ints[a.Key] != nil:
			*ints[a.Key], err = strconv.Atoi(v)
		case floats[a.Key] != nil:
			*floats[a.Key], err = strconv.ParseFloat(v, 64)
		default:
			return "", fmt.Errorf("unknown config key %q", a.Key)
		}
		if err != nil {
			return "", fmt.Errorf("config %s: %w", a.Key, err)
		}
	}
	if _, err := h.engine(); err != nil {
		return fmt.Sprintf("rejected: %v\n", err), nil
	}
	return "", nil
}

func (h *harness) addHosts(d *datadriven.TestData) error {
	e, err := h.engine()
	if err != nil {
		return err
	}
	domain := ""
	if a, ok := d.Arg("domain"); ok {
		domain = a.Vals[0]
	}
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			continue
		}
		info := HostInfo{Name: a.Key, Domain: domain}
		e.AddHost(info)
		h.hosts = append(h.hosts, info)
		h.self[a.Key] = SelfReport{BootID: "b1", Agent: a.Key + "-b1", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
	}
	slices.SortFunc(h.hosts, func(a, b HostInfo) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

func (h *harness) report(d *datadriven.TestData) error {
	name, err := posArg(d, 0)
	if err != nil {
		return err
	}
	s := h.self[name]
	var nets []string
	for _, a := range d.CmdArgs[1:] {
		v := strings.Join(a.Vals, ",")
		switch a.Key {
		case "nova-compute", "libvirtd":
			p := &s.NovaCompute
			if a.Key == "libvirtd" {
				p = &s.Libvirtd
			}
			if v != "up" && v != "down" {
				return fmt.Errorf("%s=up|down, got %q", a.Key, v)
			}
			if running := v == "up"; running != p.Running {
				if running {
					p.Restarts++
				}
				p.Running = running
			}
		case "domains":
			s.Domains = splitList(a.Vals)
		case "watchdog":
			s.WatchdogArmed = v != "off"
		case "boot":
			if v != s.BootID {
				// a new boot: a new agent process, with no ticket
				s.BootID, s.Agent, s.Ticket, s.Seq = v, name+"-"+v, Ticket{}, 0
			}
		default:
			if !slices.Contains(h.cfg.Networks, a.Key) {
				return fmt.Errorf("report: unknown network or option %q", a.Key)
			}
			nets = append(nets, a.Key)
		}
	}
	h.self[name] = s
	for _, n := range nets {
		if err := h.step(AgentReport{Host: name, Network: n, Self: s}); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) peer(d *datadriven.TestData) error {
	pair, err := posArg(d, 0)
	if err != nil {
		return err
	}
	from, to, ok := strings.Cut(pair, "->")
	if !ok {
		return fmt.Errorf("peer wants observer->host, got %q", pair)
	}
	reach := !d.HasArg("unreachable")
	for _, a := range d.CmdArgs[1:] {
		if a.Key == "unreachable" {
			continue
		}
		if err := h.step(PeerReport{Observer: from, Host: to, Network: a.Key, Reachable: reach}); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) storage(d *datadriven.TestData) error {
	if d.HasArg("unreadable") {
		h.blind = true
		return h.step(StorageHeartbeats{OK: false})
	}
	h.blind = false
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			continue
		}
		c, err := strconv.ParseUint(a.Vals[0], 10, 64)
		if err != nil {
			return err
		}
		h.counter[a.Key] = c
	}
	return h.step(h.heartbeats())
}

func (h *harness) heartbeats() StorageHeartbeats {
	if h.blind {
		return StorageHeartbeats{OK: false}
	}
	m := make(map[string]uint64, len(h.counter))
	for k, v := range h.counter {
		m[k] = v
	}
	return StorageHeartbeats{OK: true, Counters: m}
}

func (h *harness) bmcRead(d *datadriven.TestData) error {
	name, err := posArg(d, 0)
	if err != nil {
		return err
	}
	var p Power
	switch {
	case d.HasArg("on"):
		p = PowerOn
	case d.HasArg("off"):
		p = PowerOff
	case d.HasArg("unreachable"):
		p = PowerUnreachable
	default:
		return fmt.Errorf("bmc wants on, off or unreachable")
	}
	h.bmc[name] = p
	return h.step(BMCReading{Host: name, Power: p})
}

func (h *harness) novaRead(d *datadriven.TestData) error {
	name, err := posArg(d, 0)
	if err != nil {
		return err
	}
	n := NovaService{Host: name, Up: d.HasArg("up"), ForcedDown: d.HasArg("forced"), Disabled: d.HasArg("disabled")}
	if !n.Up && !d.HasArg("down") {
		return fmt.Errorf("nova wants up or down")
	}
	if a, ok := d.Arg("instances"); ok {
		n.Instances = splitList(a.Vals)
	} else {
		n.Instances = h.nova[name].Instances
	}
	if a, ok := d.Arg("status"); ok {
		n.Status = map[string]string{}
		for _, kv := range splitList(a.Vals) {
			in, st, ok := strings.Cut(kv, ":")
			if !ok {
				return fmt.Errorf("nova status=vm1:SHUTOFF,vm2:ERROR, got %q", kv)
			}
			n.Status[in] = st
		}
	} else {
		n.Status = h.nova[name].Status
	}
	h.nova[name] = n
	return h.step(n)
}

func (h *harness) fenceResult(d *datadriven.TestData) error {
	name, err := posArg(d, 0)
	if err != nil {
		return err
	}
	r := FenceResult{Host: name, Level: 1, OK: d.HasArg("ok"), Method: "ipmi"}
	if !r.OK && !d.HasArg("fail") && !d.HasArg("aborted") {
		return fmt.Errorf("fence-result wants ok, fail or aborted=...")
	}
	if a, ok := d.Arg("level"); ok {
		if r.Level, err = strconv.Atoi(a.Vals[0]); err != nil {
			return err
		}
	}
	if a, ok := d.Arg("method"); ok {
		r.Method = strings.Join(a.Vals, ", ")
	}
	if r.OK {
		r.Proof = "BMC reads chassis power off"
	}
	if a, ok := d.Arg("proof"); ok {
		r.Proof = strings.Join(a.Vals, ", ")
	}
	if a, ok := d.Arg("err"); ok {
		r.Err = strings.Join(a.Vals, ", ")
	}
	if a, ok := d.Arg("aborted"); ok {
		switch v := strings.Join(a.Vals, ","); v {
		case "answers":
			r.Aborted = AbortHostAnswers
		case "cancelled":
			r.Aborted = AbortCancelled
		default:
			return fmt.Errorf("aborted=answers|cancelled, got %q", v)
		}
		r.OK, r.Proof = false, ""
	}
	return h.step(r)
}

func (h *harness) evacResult(d *datadriven.TestData) error {
	name, err := posArg(d, 0)
	if err != nil {
		return err
	}
	inst, err := posArg(d, 1)
	if err != nil {
		return err
	}
	r := EvacuateResult{Host: name, Instance: inst, OK: d.HasArg("ok"), Accepted: d.HasArg("accepted")}
	if !r.OK && !d.HasArg("fail") {
		return fmt.Errorf("evac-result wants ok or fail")
	}
	if a, ok := d.Arg("fence"); ok {
		switch a.Vals[0] {
		case "lifted":
			r.FenceLost = true
		case "unreadable":
			r.FenceUnreadable = true
		default:
			return fmt.Errorf("evac-result fence=lifted|unreadable, got %q", a.Vals[0])
		}
	}
	if a, ok := d.Arg("target"); ok {
		r.Target = a.Vals[0]
	}
	if a, ok := d.Arg("err"); ok {
		r.Err = strings.Join(a.Vals, ", ")
	}
	if r.OK {
		// Nova now places the instance on its target: later reads say so.
		if n, ok := h.nova[name]; ok {
			n.Instances = slices.DeleteFunc(slices.Clone(n.Instances), func(s string) bool { return s == inst })
			h.nova[name] = n
		}
		if n, ok := h.nova[r.Target]; ok {
			n.Instances = append(slices.Clone(n.Instances), inst)
			h.nova[r.Target] = n
		}
	}
	return h.step(r)
}

func (h *harness) setPaths(d *datadriven.TestData) error {
	name, err := posArg(d, 0)
	if err != nil {
		return err
	}
	switch {
	case d.HasArg("clear"):
		delete(h.paths, name)
		return nil
	case d.HasArg("all"):
		h.paths[name] = profile{agent: h.cfg.Networks, peers: h.cfg.Networks, storage: true}
		return nil
	}
	var p profile
	for _, a := range d.CmdArgs[1:] {
		switch a.Key {
		case "none":
		case "agent":
			p.agent = splitList(a.Vals)
		case "peers":
			p.peers = splitList(a.Vals)
		case "storage":
			p.storage = true
		default:
			return fmt.Errorf("paths: unknown %q", a.Key)
		}
	}
	h.paths[name] = p
	return nil
}

// run advances the clock in steps, feeding what every host's paths allow,
// and prints what each tick decided.
func (h *harness) run(d *datadriven.TestData) (string, error) {
	e, err := h.engine()
	if err != nil {
		return "", err
	}
	total, err := durArg(d, 0)
	if err != nil {
		return "", err
	}
	every := time.Second
	if a, ok := d.Arg("every"); ok {
		if every, err = time.ParseDuration(a.Vals[0]); err != nil {
			return "", err
		}
	}
	healthy := map[string]bool{}
	if a, ok := d.Arg("healthy"); ok {
		for _, n := range splitList(a.Vals) {
			healthy[n] = true
		}
	}
	all := profile{agent: h.cfg.Networks, peers: h.cfg.Networks, storage: true}
	profileOf := func(name string) (profile, bool) {
		if healthy[name] {
			return all, true
		}
		p, ok := h.paths[name]
		return p, ok
	}
	var b strings.Builder
	for end := h.now.Add(total); h.now.Before(end); {
		h.now = h.now.Add(every)
		for _, hi := range h.hosts {
			p, ok := profileOf(hi.Name)
			if !ok {
				continue
			}
			for _, n := range p.agent {
				r := AgentReport{Host: hi.Name, Network: n, Self: h.self[hi.Name]}
				e.Step(h.now, r)
				h.grant(r)
			}
			by := h.observer(hi.Name, profileOf)
			for _, n := range p.peers {
				e.Step(h.now, PeerReport{Observer: by, Host: hi.Name, Network: n, Reachable: true})
			}
			if p.storage {
				h.counter[hi.Name]++
			}
		}
		e.Step(h.now, h.heartbeats())
		for _, hi := range h.hosts {
			if p, ok := h.bmc[hi.Name]; ok {
				e.Step(h.now, BMCReading{Host: hi.Name, Power: p})
			}
			if n, ok := h.nova[hi.Name]; ok {
				e.Step(h.now, n)
			}
		}
		b.WriteString(h.format(e.Tick(h.now)))
	}
	if b.Len() == 0 {
		return "no change\n", nil
	}
	return b.String(), nil
}

// observer picks the peer that probes name: the first other host whose agent
// still talks to the controller.
func (h *harness) observer(name string, profileOf func(string) (profile, bool)) string {
	first := ""
	for _, hi := range h.hosts {
		if hi.Name == name {
			continue
		}
		if first == "" {
			first = hi.Name
		}
		if p, ok := profileOf(hi.Name); ok && len(p.agent) > 0 {
			return hi.Name
		}
	}
	return first
}

func (h *harness) status() (string, error) {
	e, err := h.engine()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range e.Status() {
		fmt.Fprintf(&b, "%s %s (%s) since %s", s.Name, s.State, s.Rule, at(s.Since))
		if s.Held {
			b.WriteString(" HELD")
		}
		if s.Reason != "" {
			b.WriteString("\n    " + s.Reason)
		}
		if s.Fence != nil {
			fmt.Fprintf(&b, " fence=%s", s.Fence.Method)
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// plan prints Engine.Plan for a host, as vigil plan says it, in short.
func (h *harness) plan(d *datadriven.TestData) (string, error) {
	name, err := posArg(d, 0)
	if err != nil {
		return "", err
	}
	e, err := h.engine()
	if err != nil {
		return "", err
	}
	p, err := e.Plan(h.now, name)
	if err != nil {
		return fmt.Sprintf("error: %v\n", err), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s) at %s: ", p.Host, p.State, p.Rule, at(p.At))
	if p.WouldAct {
		b.WriteString("would act\n")
	} else {
		fmt.Fprintf(&b, "held (%s)\n    %s\n", p.Hold, p.Reason)
	}
	for _, l := range p.Fence {
		fmt.Fprintf(&b, "    fence level %d\n", l.Level)
	}
	for i, in := range p.Instances {
		fmt.Fprintf(&b, "    %d. %s %s", i+1, in.Action, in.ID)
		if in.Stopped {
			b.WriteString(" (stopped)")
		}
		if len(in.CopyOn) > 0 {
			fmt.Fprintf(&b, " (copy on %s)", strings.Join(in.CopyOn, ","))
		}
		if in.Reason != "" {
			b.WriteString(": " + in.Reason)
		}
		b.WriteString("\n")
	}
	var avoid []string
	for _, a := range p.Avoid {
		avoid = append(avoid, fmt.Sprintf("%s (%s)", a.Host, a.State))
	}
	if len(avoid) > 0 {
		fmt.Fprintf(&b, "    avoid %s\n", strings.Join(avoid, ", "))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "    note: %s\n", n)
	}
	return b.String(), nil
}

// failover replaces the engine with a new one, as a new leader would build
// it: same hosts, maintenance flags from the controller's own store, and the
// incident records the old leader persisted.
func (h *harness) failover() (string, error) {
	e, err := New(h.cfg)
	if err != nil {
		return "", err
	}
	for _, hi := range h.hosts {
		e.AddHost(hi)
		if h.maint[hi.Name] {
			e.Step(h.now, SetMaintenance{Host: hi.Name, On: true})
		}
	}
	var recs []Record
	var b strings.Builder
	for _, hi := range h.hosts {
		if r, ok := h.store[hi.Name]; ok && (r.Phase != "" || !r.Failed.IsZero()) {
			recs = append(recs, r)
			fmt.Fprintf(&b, "restored %s\n", fmtRecord(r))
		}
	}
	e.Restore(recs)
	h.e = e
	if b.Len() == 0 {
		return "nothing to restore\n", nil
	}
	return b.String(), nil
}

// format prints a Ready as incident-log lines and persists its records, as
// the controller must before acting.
func (h *harness) format(r Ready) string {
	var b strings.Builder
	for _, t := range r.Transitions {
		fmt.Fprintf(&b, "%s %s: %s -> %s (%s)\n", at(t.At), t.Host, t.From, t.To, t.Rule)
		for _, ev := range t.Evidence {
			fmt.Fprintf(&b, "    - %s\n", ev)
		}
	}
	for _, a := range r.Actions {
		fmt.Fprintf(&b, "%s %s: ACTION %s [%s]\n    %s\n", at(h.now), a.Host, a, a.Rule, a.Reason)
		if a.Kind == ActFence && !a.ProbeAborts {
			b.WriteString("    (a ping answer alone does not abort this fence)\n")
		}
		if len(a.Stopped) > 0 {
			fmt.Fprintf(&b, "    (must end SHUTOFF: %s)\n", strings.Join(a.Stopped, ","))
		}
	}
	for _, rec := range r.Records {
		h.store[rec.Host] = rec
		fmt.Fprintf(&b, "%s %s: record %s\n", at(h.now), rec.Host, fmtRecord(rec))
	}
	if len(r.Records) > 0 {
		h.e.Step(h.now, Persisted{Ready: r.Seq})
	}
	return b.String()
}

func fmtRecord(r Record) string {
	failed := ""
	if !r.Failed.IsZero() {
		failed = " failed=" + at(r.Failed)
	}
	if r.WatchdogBoot != "" {
		failed += " watchdog=" + r.WatchdogBoot
	}
	if r.WatchdogOffBoot != "" {
		failed += " watchdog=" + r.WatchdogOffBoot + "(off)"
	}
	if !r.UnfenceDue.IsZero() {
		failed += " unfence-due=" + at(r.UnfenceDue)
	}
	switch r.Phase {
	case "":
		return r.Host + " closed" + failed
	case Failed:
		s := r.Host + " phase=failed" + failed
		if r.Brake {
			s += " brake"
		}
		return s
	}
	if r.Failed.Equal(r.Opened) {
		failed = strings.TrimPrefix(failed, " failed="+at(r.Failed)) // the usual case: the incident opened when the host failed
	}
	s := fmt.Sprintf("%s phase=%s opened=%s%s level=%d", r.Host, r.Phase, at(r.Opened), failed, r.Level)
	if r.Fence != nil {
		s += fmt.Sprintf(" fence=%s@%s", r.Fence.Method, at(r.Fence.At))
	}
	if len(r.Instances) > 0 {
		s += " instances=" + strings.Join(r.Instances, ",")
	}
	if len(r.Done) > 0 {
		s += " done=" + strings.Join(r.Done, ",")
	}
	if len(r.Moving) > 0 {
		s += " moving=" + strings.Join(r.Moving, ",")
	}
	if len(r.Stopped) > 0 {
		s += " stopped=" + strings.Join(r.Stopped, ",")
	}
	if r.RejoinBy != "" {
		s += fmt.Sprintf(" rejoin=%s@%s(boot %s)", r.RejoinBy, at(r.RejoinAt), r.RejoinBoot)
	}
	return s
}

func at(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "t=" + t.Sub(epoch).String()
}

func posArg(d *datadriven.TestData, i int) (string, error) {
	if len(d.CmdArgs) <= i || len(d.CmdArgs[i].Vals) > 0 {
		return "", fmt.Errorf("%s: argument %d must be a bare word", d.Cmd, i+1)
	}
	return d.CmdArgs[i].Key, nil
}

func durArg(d *datadriven.TestData, i int) (time.Duration, error) {
	s, err := posArg(d, i)
	if err != nil {
		return 0, err
	}
	return time.ParseDuration(s)
}

// splitList accepts both a=x,y and a=(x, y).
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" && s != "none" {
				out = append(out, s)
			}
		}
	}
	return out
}
