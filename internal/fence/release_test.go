package fence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
)

// storageDevice is a storage fence that lifts only from a record with
// evidence, and verifies the target it is given.
type storageDevice struct {
	scriptedDevice
	target Target
	rels   []Release
}

func (d *storageDevice) OffTarget(ctx context.Context, t Target) (Proof, error) {
	d.target = t
	return Proof{Driver: "ceph-blocklist", Detail: "verified", Blocklist: &BlocklistProof{BootID: t.BootID, Verified: true}}, nil
}

func (d *storageDevice) Release(ctx context.Context, r Release) (string, error) {
	d.rels = append(d.rels, r)
	return r.Reason(r.Proofs[1].Blocklist.BootID)
}

// The topology hands the target to a device that takes one, and lifts a
// storage fence through Release: refused without evidence (and not
// retried: evidence does not appear by retrying), done with a new boot.
func TestTopologyTargetAndRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []string
		power := &scriptedDevice{name: "ipmi", calls: &calls}
		storage := &storageDevice{scriptedDevice: scriptedDevice{name: "ceph", calls: &calls}}
		topo := Topology{Host: "cmp1", Levels: [][]Member{{
			{Name: "ipmi", Driver: "ipmi", Device: power, Power: true},
			{Name: "ceph", Driver: "ceph-blocklist", Device: storage, Retries: 3},
		}}}
		var steps []Step
		out, err := topo.OffTarget(context.Background(), Target{Instances: []string{"i-1"}, BootID: "b1"}, func(s Step) { steps = append(steps, s) })
		if err != nil {
			t.Fatal(err)
		}
		if storage.target.BootID != "b1" || len(storage.target.Instances) != 1 {
			t.Errorf("storage device got target %+v", storage.target)
		}
		if len(out.Proofs) != 2 || out.Proofs[1].Blocklist == nil || steps[1].Proof.Blocklist == nil {
			t.Errorf("outcome %+v, steps %+v: want the typed proof in both", out, steps)
		}
		err = topo.Release(context.Background(), Release{Proofs: out.Proofs, BootID: "b1"}, nil)
		if !errors.Is(err, ErrNoResetEvidence) || len(storage.rels) != 1 {
			t.Errorf("Release with the same boot id = %v after %d calls, want ErrNoResetEvidence after 1", err, len(storage.rels))
		}
		steps = nil
		if err := topo.Release(context.Background(), Release{Proofs: out.Proofs, BootID: "b2"}, func(s Step) { steps = append(steps, s) }); err != nil {
			t.Fatal(err)
		}
		if len(steps) != 2 || !strings.Contains(steps[0].Detail, "new boot") || steps[0].Member != "ceph" || steps[1].Member != "ipmi" {
			t.Errorf("steps %+v: want the storage fence lifted first (though listed second), saying new boot, then power", steps)
		}
	})
}
