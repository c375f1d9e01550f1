//go:build pacific

package heartbeat

import (
	"fmt"

	"github.com/ceph/go-ceph/rados"
)

// OpenRados connects as client.user with the cluster configuration conf and
// opens pool; close releases both.
func OpenRados(conf, user, pool string) (store *Rados, close func(), err error) {
	conn, err := rados.NewConnWithUser(user)
	if err != nil {
		return nil, nil, fmt.Errorf("heartbeat: ceph user %s: %w", user, err)
	}
	if err := conn.ReadConfigFile(conf); err != nil {
		return nil, nil, fmt.Errorf("heartbeat: ceph_conf %s: %w", conf, err)
	}
	if err := conn.Connect(); err != nil {
		return nil, nil, fmt.Errorf("heartbeat: connecting to Ceph as client.%s (%s): %w", user, conf, err)
	}
	r, err := NewRados(conn, pool, 0)
	if err != nil {
		conn.Shutdown()
		return nil, nil, err
	}
	return r, func() { r.Close(); conn.Shutdown() }, nil
}
