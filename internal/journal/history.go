package journal

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The controllers' history (what vigil explain and vigil history show)
// lives in the store too, so that a new leader explains what its
// predecessors decided: batches of events, opaque to the journal, under
// PREFIX/history/ in the order written. It is a record for operators, not
// for the engine: no leader reads it to decide anything, so its writes are
// not guarded by the leader key, and the oldest batches are pruned.

func (j *Journal) historyKey(at time.Time) string {
	return fmt.Sprintf("%shistory/%020d", j.prefix, at.UnixNano())
}

// AppendHistory stores one batch of events.
func (j *Journal) AppendHistory(ctx context.Context, batch []byte) error {
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	if _, err := j.cli.Put(ctx, j.historyKey(time.Now()), string(batch)); err != nil {
		return fmt.Errorf("journal: writing history: %w", err)
	}
	return nil
}

// History returns the newest max batches, oldest first.
func (j *Journal) History(ctx context.Context, max int) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	resp, err := j.cli.Get(ctx, j.prefix+"history/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(max)))
	if err != nil {
		return nil, fmt.Errorf("journal: reading history: %w", err)
	}
	out := make([][]byte, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[len(out)-1-i] = kv.Value
	}
	return out, nil
}

// PruneHistory deletes all but the newest keep batches.
func (j *Journal) PruneHistory(ctx context.Context, keep int) error {
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	resp, err := j.cli.Get(ctx, j.prefix+"history/", clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(keep)+1))
	if err != nil || len(resp.Kvs) <= keep {
		return err
	}
	// Everything up to and including the first key beyond keep goes.
	end := string(resp.Kvs[keep].Key) + "\x00"
	if _, err := j.cli.Delete(ctx, j.prefix+"history/", clientv3.WithRange(end)); err != nil {
		return fmt.Errorf("journal: pruning history: %w", err)
	}
	return nil
}
