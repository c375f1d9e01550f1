//go:build pacific

package heartbeat

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/ceph/go-ceph/rados"
)

// Rados is a heartbeat store in a Ceph pool: each host's record is an omap
// key of one of Shards objects (vigil-heartbeat.N), so the controller reads
// every host with Shards omap reads, and writes spread over as many
// placement groups. The agent's Ceph user needs write access to the pool
// (osd 'allow rw pool=vigil-heartbeat'); the controller's, read access.
type Rados struct {
	ioctx  *rados.IOContext
	shards int
}

// DefaultShards spreads 10,000 hosts' writes (one a second each) over 64
// objects: about 160 writes a second per object.
const DefaultShards = 64

// NewRados uses pool through conn (connected by the caller, who closes
// it); shards 0 means DefaultShards. Every writer and reader of one
// cluster must agree on shards.
func NewRados(conn *rados.Conn, pool string, shards int) (*Rados, error) {
	if shards <= 0 {
		shards = DefaultShards
	}
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: pool %s: %w (create it: ceph osd pool create %s 32)", pool, err, pool)
	}
	return &Rados{ioctx: ioctx, shards: shards}, nil
}

// Close releases the pool handle.
func (r *Rados) Close() { r.ioctx.Destroy() }

func object(i int) string { return fmt.Sprintf("vigil-heartbeat.%d", i) }

// Write sets b.Host's omap key in its shard object.
func (r *Rados) Write(_ context.Context, b Beat) error {
	if err := r.ioctx.SetOmap(object(shard(b.Host, r.shards)), map[string][]byte{b.Host: encode(b)}); err != nil {
		return fmt.Errorf("heartbeat: writing %s: %w", b.Host, err)
	}
	return nil
}

// Read returns host's record.
func (r *Rados) Read(_ context.Context, host string) (Beat, bool, error) {
	vals, err := r.ioctx.GetOmapValues(object(shard(host, r.shards)), "", host, 16)
	if err == rados.ErrNotFound {
		return Beat{}, false, nil
	}
	if err != nil {
		return Beat{}, false, fmt.Errorf("heartbeat: reading %s: %w", host, err)
	}
	v, ok := vals[host]
	if !ok {
		return Beat{}, false, nil
	}
	b, err := decode(host, v)
	return b, err == nil, err
}

// ReadAll reads every shard's omap.
func (r *Rados) ReadAll(ctx context.Context) (map[string]Beat, error) {
	out := map[string]Beat{}
	for i := range r.shards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vals, err := r.ioctx.GetAllOmapValues(object(i), "", "", 1000)
		if err == rados.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("heartbeat: reading %s: %w", object(i), err)
		}
		for h, v := range vals {
			b, err := decode(h, v)
			if err != nil {
				return nil, err
			}
			out[h] = b
		}
	}
	return out, nil
}

// shard is which of n shard objects holds host's record.
func shard(host string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(host))
	return int(h.Sum32() % uint32(n))
}
