package decision

import (
	"testing"
	"time"
)

// Nineteenth adversarial review (attack19), against 0dfdbc3 ("a reboot is
// a fence of the boot it ended"). Each test fails on that commit.

var a19t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// a19 drives one leader's engine over cmp1..cmp3 every 500 ms, like the
// controller loop: cmp2 and cmp3 are healthy; cmp1 is what each test says.
// Its Ready is persisted at once; fences fail (cmp1's BMC is lost); every
// evacuation is recorded.
type a19 struct {
	t   *testing.T
	e   *Engine
	cfg Config
	// cmp1's agent process: the ticket its grants handed it.
	ticket Ticket
	seq    uint64
	// lastGuests: when cmp1's boot "b2" last got a grant that lets guests
	// start (the agent holds it IsolationTimeout from its report).
	lastGuests time.Duration
	evacuated  []a19evac
	hb         uint64 // cmp1's heartbeat counter
	hb2, hb3   uint64
}

type a19evac struct {
	at     time.Duration
	method string
	boot   string
	inst   []string
}

func newA19(t *testing.T) *a19 {
	cfg := DefaultConfig()
	cfg.IsolationTimeout, cfg.WatchdogTimeout = 10*time.Second, 10*time.Second
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2", "cmp3"} {
		e.AddHost(HostInfo{Name: h})
	}
	e.Step(a19t0, Leadership{Leader: true, Token: 1})
	return &a19{t: t, e: e, cfg: cfg}
}

// report steps one report of cmp1's agent process agent on boot on both
// networks and asks for its grants, as the agent would.
func (x *a19) report(at time.Duration, boot, agent string, ticket Ticket, domains ...string) {
	now := a19t0.Add(at)
	x.seq++
	for _, net := range []string{"mgmt", "storage"} {
		r := AgentReport{Host: "cmp1", Network: net, Self: SelfReport{BootID: boot, Agent: agent, Ticket: ticket, Seq: x.seq,
			NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}, Domains: domains,
			WatchdogArmed: true, IsolationTimeout: x.cfg.IsolationTimeout, WatchdogTimeout: x.cfg.WatchdogTimeout}}
		x.e.Step(now, r)
		g, err := x.e.Grant(now, r)
		if err != nil {
			continue
		}
		if !g.Ticket.IsZero() && agent == "p2" {
			x.ticket = g.Ticket
		}
		if g.Guests && boot == "b2" {
			x.lastGuests = at
		}
	}
}

func (x *a19) healthy(at time.Duration, h string) {
	now := a19t0.Add(at)
	for _, net := range []string{"mgmt", "storage"} {
		r := AgentReport{Host: h, Network: net, Self: SelfReport{BootID: h + "-boot", Agent: h + "-p", NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}}
		x.e.Step(now, r)
		_, _ = x.e.Grant(now, r)
	}
	x.e.Step(now, NovaService{Host: h, Up: true})
}

// tick runs the engine at at: persists its records, fails its fences and
// notes its evacuations.
func (x *a19) tick(at time.Duration) {
	now := a19t0.Add(at)
	rd := x.e.Tick(now)
	if len(rd.Records) > 0 {
		x.e.Step(now, Persisted{Ready: rd.Seq})
	}
	for _, a := range rd.Actions {
		switch a.Kind {
		case ActFence:
			x.e.Step(now, FenceResult{Host: a.Host, Level: a.Level, Method: "ipmi", Err: "BMC unreachable"})
		case ActEvacuate:
			boot := ""
			for _, st := range x.e.Status() {
				if st.Name == a.Host && st.Fence != nil {
					boot = st.Fence.BootID
				}
			}
			x.evacuated = append(x.evacuated, a19evac{at, a.FenceMethod, boot, a.Instances})
			for _, in := range a.Instances {
				x.e.Step(now, EvacuateResult{Host: a.Host, Instance: in, OK: true})
			}
		case ActForceDown:
			x.e.Step(now, NovaService{Host: a.Host, Up: false, ForcedDown: true, Instances: []string{"vm1"}, Status: map[string]string{"vm1": NovaError}})
		}
	}
}

// Finding A (safety; the proof is taken from a boot vigil heard of, and
// granted guests to, moments ago). rebootProof excludes only the boot of
// the last report (h.self) and the boot of the watchdog record
// (h.grantBoot), and calls every other "a boot vigil never heard of". Both
// follow the last message placed, and the engine's own threat model says
// that message may be a late one of an ended boot while another runs
// (confirm: "the last message may have come late from an ended boot while
// another runs"; isStale: "delayed in a relay, say"): a ticketless message
// (an agent's first reports, before its first grant) is never stale.
//
// cmp1 runs boot b2: its agent p2 is placed, echoes its ticket, its record
// is written, and it is granted guests; it runs none yet (vm1, which Nova
// places on cmp1, was refused at its gate before the first grant: ERROR)
// and writes heartbeats {b2, 0 guests, gated}. At +20 s a late report of
// b1's agent p1, sent before b1's first grant, arrives: it is placed
// (h.self and h.grantBoot now say b1) and cmp1 is cut off from the
// controllers (still on Ceph). From here the engine calls b2 "a boot vigil
// never heard of"; at +26 s cmp1 is failed, its fence fails, and the
// "reboot" proof that b1 ended (true, long ago) lets vigil evacuate vm1 at
// about +27 s, while b2 still holds the grant that lets guests start that
// vigil gave it at +19 s (valid to +29 s): a hard reboot of vm1 (the
// executor's own restart of a gate-refused guest, an operator's, nova's)
// starts it on cmp1 next to its evacuated copy. The proof did not show that
// the writer starts nothing vigil may start elsewhere: vigil had let it.
//
// Without the late report, b2's heartbeat is the known boot's and cmp1 is
// only isolated: nothing moves.
//
// Fix: count as known every boot heard lately (h.bootsSince over the
// episode, h.echoedBoot, h.recordBoot: what confirm refuses), or at least
// refuse the proof while a grant that let the record's boot start guests
// may still be held.
func TestAttack19RebootProofFromABootVigilGrantedGuests(t *testing.T) {
	// The control: without the late report nothing moves.
	if x := a19GrantedGuests(t, false); len(x.evacuated) > 0 {
		t.Fatalf("control (no late report): evacuated %+v", x.evacuated)
	}
	x := a19GrantedGuests(t, true)
	if x.lastGuests == 0 {
		t.Fatal("setup: b2 never got a grant that lets guests start")
	}
	for _, ev := range x.evacuated {
		if ev.method == "reboot" && ev.at < x.lastGuests+x.cfg.IsolationTimeout {
			t.Errorf("at +%v vigil evacuated %v from cmp1 on a reboot proof that boot %s ended, from heartbeats of b2, which vigil granted guests at +%v (that grant lets b2 start guests until +%v): b2 may start vm1 next to its evacuated copy",
				ev.at, ev.inst, ev.boot, x.lastGuests, x.lastGuests+x.cfg.IsolationTimeout)
		}
	}
}

func a19GrantedGuests(t *testing.T, late bool) *a19 {
	x := newA19(t)
	step := 500 * time.Millisecond
	for at := time.Duration(0); at < 60*time.Second; at += step {
		now := a19t0.Add(at)
		if at%time.Second == 0 {
			x.healthy(at, "cmp2")
			x.healthy(at, "cmp3")
			if at < 20*time.Second {
				x.report(at, "b2", "p2", x.ticket)
				x.e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"vm1"}, Status: map[string]string{"vm1": NovaError}})
			}
			if at == 20*time.Second && late {
				// b1's first report, before its first grant, delayed.
				x.report(at, "b1", "p1", Ticket{})
			}
			x.hb++
			x.hb2++
			x.hb3++
			x.e.Step(now, StorageHeartbeats{OK: true,
				Counters: map[string]uint64{"cmp1": x.hb, "cmp2": x.hb2, "cmp3": x.hb3},
				Boots: map[string]StorageBoot{"cmp1": {BootID: "b2", Guests: 0, Gated: true},
					"cmp2": {BootID: "cmp2-boot"}, "cmp3": {BootID: "cmp3-boot"}}})
		}
		x.tick(at)
	}
	return x
}

// Finding B (the input path does not match the proof's own test): a record
// that names no boot (an agent from before the heartbeat named its boot; a
// writer under a cloned name) is left out of StorageHeartbeats.Boots by
// heartbeat.Input, and Engine.Step keeps h.storageBoot as the last record
// that named one, while its counter, moving, keeps the heartbeat fresh. So
// the proof stands on a record of b2 "with no guest behind its gate" that
// has not been read for a long time, while the records read since say
// nothing of the writer's guests. reboot_test.go checks "no boot in the
// record (an older agent): no proof" by setting h.storageBoot.BootID to ""
// by hand, which Step never does.
//
// cmp1's b1 runs vm1 and is cut off from the controllers at +10 s (still
// on Ceph). Its heartbeats from +10 s to +11 s come from b2 with no guest,
// gated; from +12 s on, the records name no boot (their guests are dropped
// by Input with the boot). At +16 s cmp1 is failed, its fence fails, and
// vigil evacuates on the proof from the b2 record last read at +11 s.
//
// Fix: a read whose record of the host names no boot clears storageBoot
// (and storageBootSince), as a record of another boot does.
func TestAttack19RebootProofOutlivesTheRecordThatMadeIt(t *testing.T) {
	x := newA19(t)
	step := 500 * time.Millisecond
	for at := time.Duration(0); at < 60*time.Second; at += step {
		now := a19t0.Add(at)
		if at%time.Second == 0 {
			x.healthy(at, "cmp2")
			x.healthy(at, "cmp3")
			if at < 10*time.Second {
				x.report(at, "b1", "p1", x.ticket, "vm1")
				x.e.Step(now, NovaService{Host: "cmp1", Up: true, Instances: []string{"vm1"}, Status: map[string]string{"vm1": NovaActive}})
			}
			x.hb++
			x.hb2++
			x.hb3++
			boots := map[string]StorageBoot{"cmp2": {BootID: "cmp2-boot"}, "cmp3": {BootID: "cmp3-boot"}}
			switch {
			case at < 10*time.Second:
				boots["cmp1"] = StorageBoot{BootID: "b1", Guests: 1, Gated: true}
			case at < 12*time.Second:
				boots["cmp1"] = StorageBoot{BootID: "b2", Guests: 0, Gated: true}
			default:
				// A record that names no boot: Input leaves cmp1 out.
			}
			x.e.Step(now, StorageHeartbeats{OK: true, Counters: map[string]uint64{"cmp1": x.hb, "cmp2": x.hb2, "cmp3": x.hb3}, Boots: boots})
		}
		x.tick(at)
	}
	for _, ev := range x.evacuated {
		if ev.method == "reboot" {
			t.Errorf("at +%v vigil evacuated %v from cmp1 on a reboot proof that boot %s ended, although no record read since +11 s names the boot that writes it, nor its guests", ev.at, ev.inst, ev.boot)
		}
	}
}
