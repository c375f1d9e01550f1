package sim

import (
	"errors"
	"fmt"
	"time"
)

// InstanceState is a Nova server status.
type InstanceState string

const (
	Active     InstanceState = "ACTIVE"
	Rebuilding InstanceState = "REBUILD"
	Errored    InstanceState = "ERROR"
)

// rebuildTime is evacuate-call to ACTIVE on the target (FIELD-NOTES: 1.2–2.3 s
// measured with the fake driver).
const rebuildTime = 1500 * time.Millisecond

// Instance is one Nova server.
type Instance struct {
	ID        string
	Host      string
	State     InstanceState
	readyAt   time.Duration
	ActiveAt  time.Duration // when it last became ACTIVE on its host
	Evacuated int           // evacuations accepted
}

// Service is one nova-compute service record.
type Service struct {
	Host       string
	LastBeat   time.Duration
	ForcedDown bool
	Disabled   bool
}

// Migration is an evacuation record (accepted → done).
type Migration struct {
	Instance, Source, Dest string
	Status                 string
}

// Nova models the parts of the Nova API and conductor that matter here.
type Nova struct {
	w          *World
	Services   map[string]*Service
	Instances  map[string]*Instance
	order      []string
	Migrations []*Migration
	wasUp      map[string]bool
}

// Errors the Nova model returns, like the API's 4xx answers.
var (
	ErrServiceUp  = errors.New("nova: 409 compute service of the source host is still in use (up and not forced down)")
	ErrNoHost     = errors.New("nova: no valid host was found")
	ErrBadState   = errors.New("nova: 409 instance state does not allow evacuate")
	ErrNoInstance = errors.New("nova: 404 instance not found")
)

func newNova(w *World) *Nova {
	n := &Nova{w: w, Services: map[string]*Service{}, Instances: map[string]*Instance{}, wasUp: map[string]bool{}}
	for _, h := range w.Hosts {
		n.Services[h.Name] = &Service{Host: h.Name}
		n.wasUp[h.Name] = true
	}
	return n
}

func (n *Nova) addInstance(id, host string) {
	n.Instances[id] = &Instance{ID: id, Host: host, State: Active}
	n.order = append(n.order, id)
}

// Up is Nova's service liveness: a heartbeat within service_down_time.
func (n *Nova) Up(host string) bool {
	return n.w.now-n.Services[host].LastBeat <= n.w.cfg.ServiceDown
}

// InstancesOn lists the instances Nova places on host.
func (n *Nova) InstancesOn(host string) []string {
	var out []string
	for _, id := range n.order {
		if n.Instances[id].Host == host {
			out = append(out, id)
		}
	}
	return out
}

func (n *Nova) advance() {
	w := n.w
	for _, h := range w.Hosts {
		s := n.Services[h.Name]
		if h.Running(NovaCompute) && !h.novaInit && w.reachCtl(h, w.cfg.Networks[0]) &&
			(w.now+h.phase)%w.cfg.ReportInterval == 0 {
			s.LastBeat = w.now
		}
		if up := n.Up(h.Name); up != n.wasUp[h.Name] {
			n.wasUp[h.Name] = up
			state := "down"
			if up {
				state = "up"
			}
			w.event(h.Name, "nova: nova-compute service %s", state)
		}
	}
	for _, id := range n.order {
		inst := n.Instances[id]
		if inst.State != Rebuilding || w.now < inst.readyAt {
			continue
		}
		dest := w.Host(inst.Host)
		if dest == nil || !dest.Running(NovaCompute) || dest.novaInit {
			continue // the rebuild waits in the destination's queue
		}
		inst.State, inst.ActiveAt = Active, w.now
		dest.Domains[id] = true
		w.event(inst.Host, "nova: %s ACTIVE after evacuation", id)
	}
}

// ForceDown sets or clears forced_down and disabled (force-down first, then
// disable: FIELD-NOTES).
func (n *Nova) ForceDown(host string, down bool) error {
	s := n.Services[host]
	if s == nil {
		return fmt.Errorf("nova: 404 no compute service on %s", host)
	}
	if s.ForcedDown != down {
		s.ForcedDown, s.Disabled = down, down
		n.w.event(host, "nova: forced_down=%v disabled=%v", down, down)
	}
	return nil
}

// Evacuate rebuilds an instance on another host: dest when given (Nova
// >= 2.29 validates it through the scheduler), else the scheduler's choice.
// Like Nova, it checks only the source service's state, never whether the
// guest still runs there.
func (n *Nova) Evacuate(id, dest string) (string, error) {
	inst := n.Instances[id]
	if inst == nil {
		return "", ErrNoInstance
	}
	src := n.Services[inst.Host]
	if n.Up(inst.Host) && !src.ForcedDown {
		return "", ErrServiceUp
	}
	if inst.State != Active && inst.State != Errored {
		return "", ErrBadState
	}
	if dest == "" {
		dest = n.pickHost(inst.Host, nil)
	} else if s := n.Services[dest]; s == nil || dest == inst.Host || !n.Up(dest) || s.ForcedDown || s.Disabled {
		return "", ErrNoHost
	}
	if dest == "" {
		inst.State = Errored
		return "", ErrNoHost
	}
	n.Migrations = append(n.Migrations, &Migration{Instance: id, Source: inst.Host, Dest: dest, Status: "accepted"})
	n.w.event(inst.Host, "nova: evacuation of %s to %s accepted", id, dest)
	inst.Host, inst.State, inst.readyAt = dest, Rebuilding, n.w.now+rebuildTime
	inst.Evacuated++
	return dest, nil
}

// pickHost is the scheduler: the up, enabled host with the fewest
// instances, skipping exclude and avoid.
func (n *Nova) pickHost(exclude string, avoid map[string]bool) string {
	best, load := "", 0
	for _, h := range n.w.Hosts {
		s := n.Services[h.Name]
		if h.Name == exclude || avoid[h.Name] || !n.Up(h.Name) || s.ForcedDown || s.Disabled {
			continue
		}
		if l := len(n.InstancesOn(h.Name)); best == "" || l < load {
			best, load = h.Name, l
		}
	}
	return best
}

// ResetState is os-resetState: an operator (or vigil's executor, for an
// instance stuck rebuilding on a host that is now fenced) sets it to ERROR.
func (n *Nova) ResetState(id string) {
	if inst := n.Instances[id]; inst != nil && inst.State != Errored {
		inst.State = Errored
		n.w.event(inst.Host, "nova: %s reset to ERROR (was %s)", id, "REBUILD")
	}
}

// PickHost is the scheduler's choice for an instance of source, avoiding
// the given hosts; "" when none fits.
func (n *Nova) PickHost(source string, avoid []string) string {
	m := map[string]bool{}
	for _, a := range avoid {
		m[a] = true
	}
	return n.pickHost(source, m)
}

func (n *Nova) migrationsDone(source string) {
	for _, m := range n.Migrations {
		if m.Source == source && m.Status == "accepted" {
			m.Status = "done"
		}
	}
}
