package sim

import (
	"fmt"
	"math/rand"
	"sort"
	"time"

	"github.com/vigil-ha/vigil/internal/agent"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Epoch is virtual time zero.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Step is the world's resolution.
const Step = 100 * time.Millisecond

// Controllers names the controller side in partition groups.
const Controllers = "controllers"

// Config describes the world to build.
type Config struct {
	Hosts     int
	Networks  []string
	Instances int
	Domains   map[string][]string // domain → host names
	// FenceLevels is the fencing topology: each level one device kind,
	// "ipmi" or "ceph-blocklist", or several joined by "+", all of which
	// must succeed ("ipmi+ceph-blocklist": belt and braces).
	FenceLevels    []string
	ReportInterval time.Duration // Nova's report_interval
	ServiceDown    time.Duration // Nova's service_down_time
	Seed           int64
	// Watchdog, when set, arms a hardware watchdog on every host: the agent
	// feeds it only while it holds a fresh grant from the leader (agent.go);
	// the watchdog resets the host WatchdogTimeout after the last feed.
	Watchdog *Watchdog
	// MessageDelay delays each agent report on its way to the controllers
	// and each grant on its way back.
	MessageDelay time.Duration
	// ClockRates: member (host name or Controllers) → how fast its clock
	// runs against real time (1.02: 2% fast). Missing members run at 1.
	ClockRates map[string]float64
	// BlocklistExpire is the expiry of vigil's Ceph blocklist entries;
	// default DefaultBlocklistExpire.
	BlocklistExpire time.Duration
	// EvacuateLatency is the gap between the executor's last fence re-read
	// and Nova accepting the evacuation (API round trip, conductor); 0 is
	// the same instant.
	EvacuateLatency time.Duration
	// Capacity: host → how many instances it can hold (Nova's placement
	// counts stopped and ERROR instances too); missing or 0 is unlimited.
	// The scheduler picks only hosts with room.
	Capacity map[string]int
}

// Watchdog is the agents' isolation response.
type Watchdog struct {
	IsolationTimeout time.Duration
	WatchdogTimeout  time.Duration
	RebootTime       time.Duration // reset to booted again; default 60s
}

// Proc is a host process vigil cares about.
type Proc string

const (
	NovaCompute Proc = "nova-compute"
	Libvirtd    Proc = "libvirtd"
	Agent       Proc = "agent"
)

// Host is one simulated compute host.
type Host struct {
	Name   string
	Domain string
	On     bool
	Hung   bool
	// UserHung: userspace is stuck (agent, services, guests, the agents'
	// peer probes) while the kernel still answers ping.
	UserHung bool
	Boot     int
	cut      map[string]bool // network → link down
	procs    map[Proc]bool   // running
	starts   map[Proc]int
	// novaReadyAt: nova-compute runs init_host until then, destroying the
	// guests evacuated away, before it joins the service group.
	novaInit    bool
	novaReadyAt time.Duration
	BMCDown     bool
	BMCLies     bool // acknowledges power off without doing it, then reads "off"
	// BMCSlow: the power-off command takes this long to act and answer.
	// BMCLate: the BMC answers at once but cuts the power this much later.
	BMCSlow, BMCLate time.Duration
	Domains          map[string]bool // running guests
	// refused: guests whose start the guest-start gate refused in this
	// boot (the hook's log; the agent reports them). Nova set them to
	// ERROR; a start that gets through clears the entry.
	refused   map[string]bool
	heartbeat uint64 // storage heartbeat counter
	// beat is what the last heartbeat record says of its writer: its boot,
	// its guests, and the guest-start gate (the simulator's hosts have one
	// whenever the watchdog contract is configured).
	beat decision.StorageBoot
	// agent is the contract of the host's last agent process (vigil's own
	// code, internal/agent), saved what it keeps for a successor on this
	// boot; agentNo counts the processes started.
	agent   *agent.Contract
	saved   agent.Saved
	agentNo int
	// noWatchdog: the host has no watchdog device (its module did not
	// load): agent processes started from now on open none.
	noWatchdog bool
	// wdLong: the device rounds the watchdog timeout up to twice the
	// configured one, from the next agent start on; wdTimeout is the
	// timeout of the device armed now.
	wdLong bool
	// agentWd: the watchdog timeout the host's agent is configured with
	// from its next start on (0: the cluster's).
	agentWd time.Duration
	// agentIso: the isolation timeout the host's agent is configured with
	// from its next start on (0: the cluster's).
	agentIso time.Duration
	// dev is the host's watchdog device (a model of Linux's watchdog
	// core); keeper is vigil's keeper of the agent process running (or
	// stopping) now, nil when none runs; stopAt is when its clean stop
	// began; lateTouch: a feed decided just before a hang lands when it
	// clears.
	dev       *agent.KernelWatchdog
	keeper    *agent.Keeper
	stopAt    time.Duration
	lateTouch bool
	rate      float64       // clock rate against real time; 0 means 1
	bootAt    time.Duration // a reset host boots again at this time; 0 none
	phase     time.Duration // per-host offset of periodic work
}

// Event is something that happened in the world, for the timeline.
type Event struct {
	At   time.Duration
	Host string
	What string
}

// World is the simulated cloud.
type World struct {
	cfg   Config
	now   time.Duration
	rng   *rand.Rand
	Hosts []*Host
	byNm  map[string]*Host

	// groups: network → member → group id (members: host names, Controllers).
	groups map[string]map[string]int

	ceph  cephState
	Nova  *Nova
	Disks map[string]*Disk

	Events []Event

	ctl *Controller // the controllers, for the agents' clean-stop notices
}

// NewWorld builds a healthy world: every host on, every guest running.
func NewWorld(cfg Config) (*World, error) {
	if cfg.Hosts < 1 || cfg.Hosts > 500 {
		return nil, fmt.Errorf("sim: hosts must be 1..500, got %d", cfg.Hosts)
	}
	if len(cfg.Networks) == 0 {
		cfg.Networks = []string{"mgmt", "storage"}
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 10 * time.Second
	}
	if cfg.ServiceDown <= 0 {
		cfg.ServiceDown = 60 * time.Second
	}
	if len(cfg.FenceLevels) == 0 {
		cfg.FenceLevels = []string{"ipmi"}
	}
	if cfg.BlocklistExpire <= 0 {
		cfg.BlocklistExpire = DefaultBlocklistExpire
	}
	w := &World{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed)), byNm: map[string]*Host{},
		groups: map[string]map[string]int{}, Disks: map[string]*Disk{}}
	domainOf := map[string]string{}
	for d, hs := range cfg.Domains {
		for _, h := range hs {
			domainOf[h] = d
		}
	}
	for i := 1; i <= cfg.Hosts; i++ {
		name := fmt.Sprintf("cmp%d", i)
		h := &Host{Name: name, Domain: domainOf[name], On: true, Boot: 1, cut: map[string]bool{},
			rate:   cfg.ClockRates[name],
			procs:  map[Proc]bool{NovaCompute: true, Libvirtd: true, Agent: true},
			starts: map[Proc]int{}, Domains: map[string]bool{}, refused: map[string]bool{},
			phase: time.Duration(w.rng.Intn(10)) * Step}
		h.dev = &agent.KernelWatchdog{Now: func() time.Duration { return w.now }, Default: 60 * time.Second}
		w.startAgent(h) // the agent runs from the start; it opens its watchdog on its first grant
		w.Hosts = append(w.Hosts, h)
		w.byNm[name] = h
	}
	for name, c := range cfg.Capacity {
		if w.byNm[name] == nil || c < 0 {
			return nil, fmt.Errorf("sim: capacity of %q: no such host, or below 0", name)
		}
	}
	w.ceph = newCeph(w.Hosts)
	w.Nova = newNova(w)
	for i := 1; i <= cfg.Instances; i++ {
		id := fmt.Sprintf("vm%02d", i)
		h := w.Hosts[(i-1)%len(w.Hosts)]
		w.Nova.addInstance(id, h.Name)
		h.Domains[id] = true
		w.Disks[id] = &Disk{Instance: id, last: map[string]time.Duration{}}
	}
	return w, nil
}

// Now is the virtual time since Epoch.
func (w *World) Now() time.Duration { return w.now }

// Host returns the named host or nil.
func (w *World) Host(name string) *Host { return w.byNm[name] }

// Config returns the world's configuration.
func (w *World) Config() Config { return w.cfg }

func (w *World) event(host, format string, args ...any) {
	w.Events = append(w.Events, Event{At: w.now, Host: host, What: fmt.Sprintf(format, args...)})
}

// GateRefused reports whether the guest-start gate refused id's start in
// h's current boot and no start got through since: ground truth that
// vigil's own gate, not an operator's failed operation, left it in ERROR.
func (h *Host) GateRefused(id string) bool { return h.refused[id] }

// alive reports whether the host's kernel runs.
func (h *Host) alive() bool { return h.On && !h.Hung }

// Rebooting reports whether a watchdog reset h and it will boot again.
func (h *Host) Rebooting() bool { return h.bootAt > 0 }

// Running reports whether process p runs on h now.
func (h *Host) Running(p Proc) bool { return h.alive() && !h.UserHung && h.procs[p] }

// guestsRun reports whether h's guests execute (and write their disks).
func (h *Host) guestsRun() bool { return h.alive() && !h.UserHung }

func (w *World) group(net, member string) int { return w.groups[net][member] }

// link reports whether a host's link on net carries traffic.
func (h *Host) link(net string) bool { return h.alive() && !h.cut[net] }

// reach reports whether host a reaches host b on net.
func (w *World) reach(a, b *Host, net string) bool {
	return a.link(net) && b.link(net) && w.group(net, a.Name) == w.group(net, b.Name)
}

// peerProbe reports whether a's agent gets an answer from b on net. The
// simulator's peer probe is answered by b's kernel (a stopped agent does not
// stop it) but not by a host whose userspace hangs: the model of a probe
// answered by a userspace responder, which a partial hang stops.
func (w *World) peerProbe(a, b *Host, net string) bool { return w.reach(a, b, net) && !b.UserHung }

// reachCtl reports whether host h reaches the controllers (and with them Nova
// and RabbitMQ) on net. Ceph is reached on its own path: hostReachesCeph.
func (w *World) reachCtl(h *Host, net string) bool {
	return h.link(net) && w.group(net, h.Name) == w.group(net, Controllers)
}

// answersPing reports whether the executor's probe (a ping from the
// controllers over the storage network) gets a reply from h. The kernel
// answers it: a host whose userspace hangs still does.
func (w *World) answersPing(h *Host) bool { return w.reachCtl(h, w.storageNet()) }

func (w *World) storageNet() string { return StorageNet(w.cfg.Networks) }

// answersAnyPing reports whether a ping from the controllers gets a reply
// from h on some network: the executor's last look before a power-off pings
// every address of the host.
func (w *World) answersAnyPing(h *Host) bool {
	for _, n := range w.cfg.Networks {
		if w.reachCtl(h, n) {
			return true
		}
	}
	return false
}

// agentLive reports whether h's agent runs and reaches the controllers on
// some network: ground truth for "the host is alive".
func (w *World) agentLive(h *Host) bool { return h.Running(Agent) && w.answersAnyPing(h) }

// advance moves the world one Step: guests write, agents beat, Nova learns.
func (w *World) advance() {
	w.now += Step
	w.expireEntries()
	for _, h := range w.Hosts {
		tick := (w.now+h.phase)%time.Second == 0
		if h.Running(NovaCompute) && h.novaInit && w.now >= h.novaReadyAt &&
			(w.mayStartGuests(h) || w.now >= h.novaReadyAt+gateWait) {
			w.finishNovaInit(h)
		}
		if h.bootAt > 0 && w.now >= h.bootAt {
			h.bootAt = 0
			w.PowerOn(h, "watchdog reset: rebooted")
		}
		w.watchdog(h, tick)
		if !tick {
			continue
		}
		// Each process is its own Ceph client: a blocklisted one's writes
		// fail, one whose entry expired writes again. A hung userspace
		// writes nothing.
		for _, id := range sortedKeys(h.Domains) {
			if h.guestsRun() && w.canWrite(h, id) {
				w.Disks[id].write(w, h.Name)
			}
		}
		if h.Running(Agent) && w.canWrite(h, string(Agent)) {
			h.heartbeat++
			h.beat = decision.StorageBoot{BootID: bootID(h), Guests: len(h.Domains), Gated: w.cfg.Watchdog != nil}
		}
	}
	w.Nova.advance()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
