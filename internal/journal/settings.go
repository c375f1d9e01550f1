package journal

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vigil-ha/vigil/internal/controller"
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

var _ controller.Settings = (*Journal)(nil)
