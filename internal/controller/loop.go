package controller

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Policy is what the loop consults: decision.Engine, or the naive rule it
// is compared with (internal/naive).
type Policy interface {
	AddHost(decision.HostInfo)
	Step(time.Time, decision.Input)
	Tick(time.Time) decision.Ready
	Restore([]decision.Record)
	// RestoreSnapshot restores from a store restored from a snapshot at
	// revision restoredAt (decision.Engine.RestoreSnapshot).
	RestoreSnapshot(recs []decision.Record, restoredAt uint64)
	Status() []decision.HostStatus
	// Grant answers an agent report stepped just before (the watchdog
	// contract).
	Grant(time.Time, decision.AgentReport) (decision.Grant, error)
}

// Store is the journal: the latest record of each host.
type Store interface {
	// Records returns every stored record, and the store's revision right
	// after it was last restored from a snapshot (0: never), which the
	// restore procedure writes (docs/architecture.md): records up to it
	// are the snapshot's.
	Records() (recs []decision.Record, restoredAt uint64, err error)
	// Write commits, in transactions guarded by this leader's term, the
	// records of one Ready and the intent of its actions; nil only when
	// all of it committed. A failed write may have committed part of the
	// records (each stands alone: a host's latest state), never an
	// action's intent without the records before it. A deposed leader's
	// write fails.
	Write(recs []decision.Record, acts []decision.Action) error
}

// Settings is a store that also keeps the operators' settings, so that
// every leader finds them (journal.Journal). A loop over a store without
// it keeps them in memory: one process's leaders only (tests, the
// simulator's one world).
type Settings interface {
	// Maintenance returns the hosts in maintenance.
	Maintenance() (map[string]bool, error)
	// SetMaintenance writes one host's setting, guarded by this term
	// (a deposed leader's write fails).
	SetMaintenance(host string, on bool) error
	// Pause returns the operators' pause in force, nil when none.
	Pause() (*decision.SetPause, error)
	// SetPause writes it (On false: removes it), guarded by this term.
	SetPause(p decision.SetPause) error
}

// ErrNotKept: an operator's setting could not be written to the store, so
// it is not in force (a successor would not know it); try again.
var ErrNotKept = errors.New("controller: the setting could not be written to the store")

// Loop is one controller's control loop. It is not safe for concurrent
// use; its owner serialises every call, as the engine needs.
type Loop struct {
	newPolicy   func() Policy
	hosts       []decision.HostInfo
	store       Store
	p           Policy
	leading     bool
	maintenance map[string]bool // set by operators: survives a change of leader
	pause       *decision.SetPause
}

// New returns a loop over hosts that runs newPolicy() whenever it leads. It
// does not lead until Lead.
func New(newPolicy func() Policy, hosts []decision.HostInfo, store Store) *Loop {
	return &Loop{newPolicy: newPolicy, hosts: hosts, store: store, maintenance: map[string]bool{}}
}

// ErrNotLeading: the loop does not lead; nothing was stepped or written.
var ErrNotLeading = errors.New("controller: not the leader")

// Lead makes the loop the leader of term token from now: a fresh policy,
// restored from the journal, with the operators' maintenance settings, told
// it leads. It returns how many records it restored. A journal that cannot
// be read leaves the loop not leading: a leader that cannot see what its
// predecessor did must not act.
func (l *Loop) Lead(now time.Time, token uint64) (int, error) {
	recs, restoredAt, err := l.store.Records()
	if err != nil {
		l.leading = false
		return 0, fmt.Errorf("controller: reading the journal: %w", err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Host < recs[j].Host })
	if st, ok := l.store.(Settings); ok {
		m, err := st.Maintenance()
		if err != nil {
			// Not knowing which hosts an operator owns, a leader could
			// fence one of them: it must not lead.
			l.leading = false
			return 0, fmt.Errorf("controller: reading the operators' settings: %w", err)
		}
		p, err := st.Pause()
		if err != nil {
			l.leading = false
			return 0, fmt.Errorf("controller: reading the operators' settings: %w", err)
		}
		l.maintenance, l.pause = m, p
	}
	l.p = l.newPolicy()
	for _, h := range l.hosts {
		l.p.AddHost(h)
	}
	if restoredAt > 0 {
		l.p.RestoreSnapshot(recs, restoredAt)
	} else {
		l.p.Restore(recs)
	}
	for _, h := range l.hosts {
		if l.maintenance[h.Name] {
			l.p.Step(now, decision.SetMaintenance{Host: h.Name, On: true})
		}
	}
	if l.pause != nil {
		l.p.Step(now, *l.pause)
	}
	l.p.Step(now, decision.Leadership{Leader: true, Token: token})
	l.leading = true
	return len(recs), nil
}

// Maintenance records an operator's maintenance setting for host whether
// or not the loop leads: a command taken while no leader could serve it
// (paused, being elected) must be in force before the next leader judges,
// as a setting kept in the store would be.
func (l *Loop) Maintenance(host string, on bool) { l.maintenance[host] = on }

// Depose ends the loop's term: it steps nothing more until it leads again.
func (l *Loop) Depose() { l.leading = false }

// Leading reports whether the loop leads.
func (l *Loop) Leading() bool { return l.leading }

// Step hands the policy one input received at now.
func (l *Loop) Step(now time.Time, in decision.Input) error {
	if !l.leading {
		return ErrNotLeading
	}
	if m, ok := in.(decision.SetMaintenance); ok {
		if st, ok := l.store.(Settings); ok {
			if err := st.SetMaintenance(m.Host, m.On); err != nil {
				// Not in force unless kept: a successor would not know it.
				return fmt.Errorf("%w: the maintenance setting of %s: %w", ErrNotKept, m.Host, err)
			}
		}
		l.maintenance[m.Host] = m.On
	}
	if m, ok := in.(decision.SetPause); ok {
		if m.On && m.At.IsZero() {
			m.At = now
			in = m
		}
		if st, ok := l.store.(Settings); ok {
			if err := st.SetPause(m); err != nil {
				return fmt.Errorf("%w: the pause: %w", ErrNotKept, err)
			}
		}
		switch {
		case m.On && l.pause == nil:
			l.pause = &m
		case !m.On:
			l.pause = nil
		}
	}
	l.p.Step(now, in)
	return nil
}

// Report steps an agent report and returns the grant that answers it.
func (l *Loop) Report(now time.Time, r decision.AgentReport) (decision.Grant, error) {
	if !l.leading {
		return decision.Grant{}, ErrNotLeading
	}
	l.p.Step(now, r)
	return l.p.Grant(now, r)
}

// Tick runs the policy's tick and writes what it decided. It returns what
// may be carried out now: on a committed write the whole Ready (and the
// policy is told it is written); when the write fails, only its alerts,
// with the error, since every other action and every acknowledgement must
// be journaled first.
func (l *Loop) Tick(now time.Time) (decision.Ready, error) {
	if !l.leading {
		return decision.Ready{}, ErrNotLeading
	}
	r := l.p.Tick(now)
	journaled := len(r.Records) > 0 || len(r.Acks) > 0
	for _, a := range r.Actions {
		journaled = journaled || a.Kind != decision.ActAlert
	}
	if !journaled {
		return r, nil
	}
	if err := l.store.Write(r.Records, r.Actions); err != nil {
		kept := decision.Ready{Seq: r.Seq, Transitions: r.Transitions}
		var undone []decision.Action
		for _, a := range r.Actions {
			if a.Kind == decision.ActAlert {
				kept.Actions = append(kept.Actions, a)
			} else {
				undone = append(undone, a)
			}
		}
		// Nothing of it is carried out: what waits for a result of
		// these actions must not wait for ever.
		var hosts []string
		for _, rec := range r.Records {
			hosts = append(hosts, rec.Host)
		}
		l.p.Step(now, decision.Unwritten{Ready: r.Seq, Actions: undone, Hosts: hosts})
		return kept, fmt.Errorf("controller: writing the journal: %w", err)
	}
	if len(r.Records) > 0 {
		l.p.Step(now, decision.Persisted{Ready: r.Seq})
	}
	return r, nil
}

// Status is the policy's view of every host; nil when the loop never led.
func (l *Loop) Status() []decision.HostStatus {
	if l.p == nil {
		return nil
	}
	return l.p.Status()
}

// Planner is a policy that can say what it would do if a host failed now,
// changing nothing (decision.Engine.Plan). The naive rule cannot.
type Planner interface {
	Plan(now time.Time, host string) (decision.Plan, error)
}

// ErrNoPlan: the loop's policy makes no plans (it is not a Planner).
var ErrNoPlan = errors.New("controller: this policy makes no plans")

// Plan asks the policy of the term what it would do if host failed at now;
// ErrNotLeading when the loop does not lead (a follower's engine decides
// nothing, so its plan would say nothing of what the leader does).
func (l *Loop) Plan(now time.Time, host string) (decision.Plan, error) {
	if !l.leading {
		return decision.Plan{}, ErrNotLeading
	}
	p, ok := l.p.(Planner)
	if !ok {
		return decision.Plan{}, ErrNoPlan
	}
	return p.Plan(now, host)
}

// Policy is the policy of the current (or last) term.
func (l *Loop) Policy() Policy { return l.p }

// Empty reports whether a record carries nothing a successor needs: a store
// may delete it instead of keeping it.
func Empty(r decision.Record) bool {
	return r.Phase == "" && r.Failed.IsZero() && r.WatchdogBoot == "" && r.WatchdogOffBoot == "" && r.UnfenceDue.IsZero() &&
		len(r.FenceRecords) == 0 && len(r.LiftRecords) == 0 // fences still to lift, from their records
}
