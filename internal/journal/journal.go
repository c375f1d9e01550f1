// Package journal is the controller's state on etcd: the leader election
// and the journal of incident records, every write of which is a
// transaction guarded by the leader's key, so a deposed leader's write
// fails (controller.Store).
//
// Keys, under a prefix (default "/vigil/"):
//
//	election/<lease>   the candidates' keys (concurrency.Election); the
//	                   leader's key's create revision is the fencing token
//	records/<host>     the latest decision.Record of each host, JSON
//	journal/last       the last Ready written: term, its actions but alerts, JSON
//	restored-at        the revision right after a restore from a snapshot
//	                   (MarkRestored): records up to it are the snapshot's
package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// MaxOps is how many operations one transaction carries: etcd's default
// --max-txn-ops is 128. A larger write is split into guarded transactions
// committed in order; each record stands alone (a host's latest state), and
// the engine is told the write succeeded only when all of them did.
const MaxOps = 128

// ErrDeposed: the write was refused because this member no longer leads.
var ErrDeposed = errors.New("journal: not the leader any more: write refused")

// Journal is one controller's view of the store: its election session and
// the journal. It implements controller.Store once it leads.
type Journal struct {
	cli    *clientv3.Client
	prefix string
	ttl    int // seconds

	sess  *concurrency.Session
	elec  *concurrency.Election
	key   string // our leader key, once elected
	token int64  // its create revision: the fencing token
	ctx   context.Context
	// deadline: until when the lease surely lives at etcd, counted from
	// the send time of the last grant or keepalive etcd answered (it
	// renews at receipt, later), as nanoseconds after base: base keeps
	// its monotonic reading, so a wall clock stepped back or forth moves
	// no deadline.
	base     time.Time
	deadline atomic.Int64
	stopKeep context.CancelFunc
	// Timeout bounds every read and write.
	Timeout time.Duration
}

// New returns a journal on cli under prefix, whose leadership lease lasts
// ttl seconds (a stalled leader stops being one after that).
func New(cli *clientv3.Client, prefix string, ttl int) *Journal {
	if prefix == "" {
		prefix = "/vigil/"
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Journal{cli: cli, prefix: prefix, ttl: ttl, Timeout: 5 * time.Second, ctx: context.Background(), base: time.Now()}
}

// Campaign blocks until this member leads or ctx ends, and returns the
// term's fencing token. name identifies the member (its value in the
// election).
func (j *Journal) Campaign(ctx context.Context, name string) (uint64, error) {
	sent := time.Now()
	lease, err := j.cli.Grant(ctx, int64(j.ttl))
	if err != nil {
		return 0, fmt.Errorf("journal: lease: %w", err)
	}
	j.deadline.Store(int64(sent.Add(time.Duration(lease.TTL) * time.Second).Sub(j.base)))
	kctx, stop := context.WithCancel(context.Background())
	go j.keepAlive(kctx, lease.ID)
	s, err := concurrency.NewSession(j.cli, concurrency.WithLease(lease.ID))
	if err != nil {
		stop()
		return 0, fmt.Errorf("journal: session: %w", err)
	}
	e := concurrency.NewElection(s, j.prefix+"election")
	if err := e.Campaign(ctx, name); err != nil {
		stop()
		s.Close()
		return 0, fmt.Errorf("journal: campaign: %w", err)
	}
	j.sess, j.elec, j.key, j.token, j.stopKeep = s, e, e.Key(), e.Rev(), stop
	return uint64(j.token), nil
}

// keepAlive renews the lease every third of its TTL and moves the deadline
// to the send time of each renewal etcd answered plus the TTL it gives. A
// process stopped (SIGSTOP) or cut off renews nothing: its deadline stays
// where it was, and runs out no later than the lease does at etcd.
func (j *Journal) keepAlive(ctx context.Context, id clientv3.LeaseID) {
	every := time.Duration(j.ttl) * time.Second / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		sent := time.Now()
		c, cancel := context.WithTimeout(ctx, every)
		resp, err := j.cli.KeepAliveOnce(c, id)
		cancel()
		if err != nil || resp.TTL <= 0 {
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return // gone at etcd: nothing to renew, the deadline stands
			}
			continue
		}
		j.deadline.Store(int64(sent.Add(time.Duration(resp.TTL) * time.Second).Sub(j.base)))
	}
}

// Deadline is until when this member surely still leads (if it was
// elected): its lease cannot have run out at etcd before then.
func (j *Journal) Deadline() time.Time {
	if j.key == "" {
		return time.Time{}
	}
	return j.base.Add(time.Duration(j.deadline.Load())) // with base's monotonic reading
}

// Lost is closed when this member's leadership lease is gone (etcd
// unreachable past the TTL, or revoked): from then on it must not act.
func (j *Journal) Lost() <-chan struct{} {
	if j.sess == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return j.sess.Done()
}

// Resign gives up leadership.
func (j *Journal) Resign(ctx context.Context) error {
	if j.elec == nil {
		return nil
	}
	err := j.elec.Resign(ctx)
	j.stopKeep()
	j.sess.Close()
	j.sess, j.elec, j.key = nil, nil, ""
	return err
}

// Records reads every stored record, and the restore marker (restored-at,
// written by MarkRestored after a restore from a snapshot), in one read.
func (j *Journal) Records() ([]decision.Record, uint64, error) {
	ctx, cancel := context.WithTimeout(j.ctx, j.Timeout)
	defer cancel()
	resp, err := j.cli.Txn(ctx).Then(
		clientv3.OpGet(j.prefix+"records/", clientv3.WithPrefix()),
		clientv3.OpGet(j.prefix+"restored-at")).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("journal: reading records: %w", err)
	}
	recs := resp.Responses[0].GetResponseRange().Kvs
	out := make([]decision.Record, 0, len(recs))
	for _, kv := range recs {
		var r decision.Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, 0, fmt.Errorf("journal: record %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	var restoredAt uint64
	if m := resp.Responses[1].GetResponseRange().Kvs; len(m) > 0 {
		if restoredAt, err = strconv.ParseUint(string(m[0].Value), 10, 64); err != nil {
			return nil, 0, fmt.Errorf("journal: %srestored-at is %q, not a revision: write it again with MarkRestored (vigil's restore procedure)", j.prefix, m[0].Value)
		}
	}
	return out, restoredAt, nil
}

// MarkRestored records, right after the store was restored from a snapshot
// (etcdutl snapshot restore --bump-revision ... --mark-compacted), that every
// record written so far is the snapshot's: it writes the store's current
// revision as the marker every later leader restores with
// (decision.Engine.RestoreSnapshot). It returns the marker.
func (j *Journal) MarkRestored(ctx context.Context) (uint64, error) {
	resp, err := j.cli.Get(ctx, j.prefix+"restored-at")
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	rev := uint64(resp.Header.Revision)
	if _, err := j.cli.Put(ctx, j.prefix+"restored-at", strconv.FormatUint(rev, 10)); err != nil {
		return 0, fmt.Errorf("journal: writing the restore marker: %w", err)
	}
	return rev, nil
}

// entry is what journal/last holds.
type entry struct {
	Term    uint64            `json:"term"`
	At      time.Time         `json:"at"`
	Actions []decision.Action `json:"actions,omitempty"`
}

// Write commits records and the intent of acts, each transaction guarded
// by this member's leader key: if it no longer leads, nothing of that
// transaction is written and Write returns ErrDeposed.
func (j *Journal) Write(recs []decision.Record, acts []decision.Action) error {
	if j.key == "" {
		return ErrDeposed
	}
	// A Ready may hold several records of one host (each persist adds
	// one); etcd refuses a transaction that puts a key twice, and the
	// last is the host's state: keep only it.
	last := map[string]int{}
	for i, r := range recs {
		last[r.Host] = i
	}
	var ops []clientv3.Op
	for i, r := range recs {
		if last[r.Host] != i {
			continue
		}
		k := j.prefix + "records/" + r.Host
		if controller.Empty(r) {
			ops = append(ops, clientv3.OpDelete(k))
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(k, string(b)))
	}
	// The intents only: an alert is sent whether or not it is written
	// (Loop.Tick), and at 10,000 hosts a round of alerts, each with its
	// reason, would make every write carry kilobytes nobody replays.
	var intents []decision.Action
	for _, a := range acts {
		if a.Kind != decision.ActAlert {
			intents = append(intents, a)
		}
	}
	b, err := json.Marshal(entry{Term: uint64(j.token), At: time.Now().UTC(), Actions: intents})
	if err != nil {
		return err
	}
	ops = append(ops, clientv3.OpPut(j.prefix+"journal/last", string(b)))
	for len(ops) > 0 {
		n := min(len(ops), MaxOps)
		if err := j.txn(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

func (j *Journal) txn(ops []clientv3.Op) error {
	ctx, cancel := context.WithTimeout(j.ctx, j.Timeout)
	defer cancel()
	resp, err := j.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(j.key), "=", j.token)).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	if !resp.Succeeded {
		return ErrDeposed
	}
	return nil
}

var _ controller.Store = (*Journal)(nil)
