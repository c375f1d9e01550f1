package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// The operators' settings live in the store next to the journal, so that
// every leader finds them: a host an operator put in maintenance stays in
// maintenance when another controller takes over. Keys:
// PREFIX/settings/maintenance/HOST, present while the host is in
// maintenance.

func (j *Journal) maintenanceKey(host string) string {
	return j.prefix + "settings/maintenance/" + host
}

// Maintenance returns every host the operators put in maintenance.
func (j *Journal) Maintenance() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(j.ctx, j.Timeout)
	defer cancel()
	p := j.maintenanceKey("")
	resp, err := j.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("journal: reading the maintenance settings: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), p)] = true
	}
	return out, nil
}

// SetMaintenance writes an operator's maintenance setting of host, guarded
// by the leader key like every journal write: a deposed leader's fails
// (ErrDeposed).
func (j *Journal) SetMaintenance(host string, on bool) error {
	if j.key == "" {
		return ErrDeposed
	}
	op := clientv3.OpDelete(j.maintenanceKey(host))
	if on {
		op = clientv3.OpPut(j.maintenanceKey(host), "on")
	}
	return j.txn([]clientv3.Op{op})
}

// Pause returns the operators' pause in force (PREFIX/settings/pause), nil
// when none.
func (j *Journal) Pause() (*decision.SetPause, error) {
	ctx, cancel := context.WithTimeout(j.ctx, j.Timeout)
	defer cancel()
	resp, err := j.cli.Get(ctx, j.prefix+"settings/pause")
	if err != nil {
		return nil, fmt.Errorf("journal: reading the pause: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var p decision.SetPause
	if err := json.Unmarshal(resp.Kvs[0].Value, &p); err != nil {
		return nil, fmt.Errorf("journal: %ssettings/pause: %w", j.prefix, err)
	}
	p.On = true
	return &p, nil
}

// SetPause writes the pause (p.On false removes it), guarded by the
// leader key. A pause already in force is kept as it is (who, why, since).
func (j *Journal) SetPause(p decision.SetPause) error {
	if j.key == "" {
		return ErrDeposed
	}
	k := j.prefix + "settings/pause"
	if !p.On {
		return j.txn([]clientv3.Op{clientv3.OpDelete(k)})
	}
	if cur, err := j.Pause(); err != nil {
		return err
	} else if cur != nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return j.txn([]clientv3.Op{clientv3.OpPut(k, string(b))})
}

var _ controller.Settings = (*Journal)(nil)
