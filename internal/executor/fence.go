package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/fence"
)

// Topologies finds a host's fencing topology.
type Topologies interface {
	Topology(host string) (fence.Topology, error)
}

// Fence runs one decision.ActFence action: the level it names, on the host
// it names, and reports a FenceResult whose OK means verified.
func Fence(ctx context.Context, topos Topologies, a decision.Action, report func(fence.Step)) decision.FenceResult {
	res, _ := FenceTarget(ctx, topos, a, fence.Target{}, report)
	return res
}

// FenceTarget is Fence for a known target (the host's instances from Nova,
// its boot id). It also returns the typed proofs to store with the
// incident: the record a later Renew and Unfence work from. When the fence
// failed they are the records of what failed devices changed (blocklist
// entries added half way), still to be kept for unfencing.
func FenceTarget(ctx context.Context, topos Topologies, a decision.Action, tgt fence.Target, report func(fence.Step)) (decision.FenceResult, []fence.Proof) {
	res := decision.FenceResult{Host: a.Host, Level: a.Level}
	if tgt.Since.IsZero() {
		tgt.Since = a.Since
	}
	if a.Kind != decision.ActFence {
		res.Err = fmt.Sprintf("executor: %s is not a fence action", a.Kind)
		return res, nil
	}
	topo, err := topos.Topology(a.Host)
	if err != nil {
		res.Err = err.Error()
		return res, nil
	}
	if a.Level >= 1 && a.Level <= len(topo.Levels) {
		res.Method = LevelMethod(topo.Levels[a.Level-1])
	}
	if a.ProbeAborts && topo.Probe != nil && a.Level >= 1 && a.Level <= len(topo.Levels) && powers(topo.Levels[a.Level-1]) {
		// The last look before the power-off: a host that answers was
		// judged on stale evidence (its reports are still on the way).
		// The engine judges it again; it clears ProbeAborts when only a
		// ping answers (a hung userspace).
		if answers, what, err := topo.Probe.Answers(ctx); err == nil && answers {
			res.Aborted, res.Err = decision.AbortHostAnswers, what
			if report != nil {
				report(fence.Step{Level: a.Level, Op: "probe", Detail: "host answers before the power-off: " + what})
			}
			return res, nil
		}
	}
	var partial []fence.Proof
	out, err := topo.OffLevelTarget(ctx, a.Level, tgt, func(s fence.Step) {
		if s.Err != nil && s.Proof.Blocklist != nil {
			partial = append(partial, s.Proof)
		}
		if report != nil {
			report(s)
		}
	})
	if err != nil {
		res.Err, res.Records = err.Error(), records(partial)
		return res, partial
	}
	res.OK, res.Proof, res.Records = true, out.Summary(), records(out.Proofs)
	return res, out.Proofs
}

// records is proofs as the engine journals them (FenceResult.Records).
func records(proofs []fence.Proof) []json.RawMessage {
	var out []json.RawMessage
	for _, p := range proofs {
		b, err := json.Marshal(p)
		if err != nil {
			continue // plain data: cannot fail
		}
		out = append(out, b)
	}
	return out
}

// proofs reads an action's records back: what a leader, this one or one
// before it, journaled of the host's fences.
func proofs(rs []json.RawMessage) ([]fence.Proof, error) {
	out := make([]fence.Proof, 0, len(rs))
	for i, r := range rs {
		var p fence.Proof
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, fmt.Errorf("executor: fence record %d of the journal: %w", i+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// RenewAction runs one decision.ActRenewFence from the records it carries
// and reports the renewed records for the journal.
func RenewAction(ctx context.Context, topos Topologies, a decision.Action) decision.RenewResult {
	res := decision.RenewResult{Host: a.Host}
	ps, err := proofs(a.Records)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	renewed, err := Renew(ctx, topos, a.Host, ps)
	res.Records = records(renewed)
	switch {
	case errors.Is(err, fence.ErrNotVerified):
		// An entry was gone and is added again: the fence holds again,
		// but the host may have written in between.
		res.OK, res.Lapsed, res.Err = true, true, err.Error()
	case err != nil:
		res.Err = err.Error()
	default:
		res.OK = true
	}
	return res
}

// UnfenceAction runs one decision.ActUnfence: it lifts what the records it
// carries say the host's fences did, with rel's evidence (the host's boot
// id now, or an operator's force).
func UnfenceAction(ctx context.Context, topos Topologies, a decision.Action, rel fence.Release, report func(fence.Step)) decision.UnfenceResult {
	res := decision.UnfenceResult{Host: a.Host}
	ps, err := proofs(a.Records)
	if err == nil {
		rel.Proofs, rel.Since = ps, a.Since
		rel.Unmoved = rel.Unmoved || a.Unmoved
		err = Unfence(ctx, topos, a.Host, rel, report)
	}
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.OK = true
	return res
}

// Renew refreshes, once, every fence of the host's record that lapses
// unless renewed (fence.Renewer: Ceph blocklist entries): the controller
// calls it periodically while the incident is open and stores the proofs it
// returns in place of the old ones. A proof no device renews is returned
// as it was. Errors (a lapsed entry found, a renewal refused) are for an
// alert: the returned proofs are still the current record.
func Renew(ctx context.Context, topos Topologies, host string, proofs []fence.Proof) ([]fence.Proof, error) {
	topo, err := topos.Topology(host)
	if err != nil {
		return proofs, err
	}
	out := append([]fence.Proof(nil), proofs...)
	var errs []error
	for i, p := range out {
		for _, level := range topo.Levels {
			for _, m := range level {
				r, ok := m.Device.(fence.Renewer)
				if !ok || m.Driver != p.Driver {
					continue
				}
				np, err := r.Renew(ctx, p)
				if errors.Is(err, fence.ErrNotMine) {
					continue
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
				}
				if np.Driver != "" {
					out[i] = np
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// Unfence lifts the host's fences from the stored record (rel.Proofs) and
// the evidence in rel; storage fences refuse without evidence of a reset.
func Unfence(ctx context.Context, topos Topologies, host string, rel fence.Release, report func(fence.Step)) error {
	topo, err := topos.Topology(host)
	if err != nil {
		return err
	}
	return topo.Release(ctx, rel, report)
}

func powers(ms []fence.Member) bool {
	for _, m := range ms {
		if m.Power {
			return true
		}
	}
	return false
}

// LevelMethod is the method a fence level reports to the engine
// (FenceResult.Method): each member's method, joined by "+".
func LevelMethod(ms []fence.Member) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += "+"
		}
		s += method(m)
	}
	return s
}

// method names what a member's fence does, for the engine: its driver, and
// for a fence agent, which may cut power, storage or I/O, its kind too
// ("fence-agent" power, "fence-agent-storage", "fence-agent-io"), so a
// fence_scsi level is not taken for a power fence that the BMC reading on
// would undo, nor a fence_ifmib one for a storage fence.
func method(m fence.Member) string {
	switch {
	case m.Driver != "fence-agent" || m.Power:
		return m.Driver
	case m.Storage:
		return "fence-agent-storage"
	default:
		return "fence-agent-io"
	}
}
