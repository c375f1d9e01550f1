//go:build !pacific

package heartbeat

import (
	"context"
	"errors"
)

// Rados is the RADOS store; this build has no Ceph support.
type Rados struct{}

// OpenRados fails: this build has no Ceph support.
func OpenRados(conf, user, pool string) (store *Rados, close func(), err error) {
	return nil, nil, errors.New("heartbeat: pool: this vigil was built without Ceph support (build with -tags pacific, as make build does), or use heartbeat.dir")
}

func (*Rados) Write(context.Context, Beat) error { return errors.ErrUnsupported }
func (*Rados) Read(context.Context, string) (Beat, bool, error) {
	return Beat{}, false, errors.ErrUnsupported
}
func (*Rados) ReadAll(context.Context) (map[string]Beat, error) { return nil, errors.ErrUnsupported }
