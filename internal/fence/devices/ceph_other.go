//go:build !pacific

package devices

import (
	"errors"
	"log/slog"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
)

// ErrNoCeph: this binary was built without go-ceph.
var ErrNoCeph = errors.New("ceph-blocklist needs a vigil built with -tags pacific (make build does) and librados/librbd")

func ceph(config.Device, config.Host, *slog.Logger) (fence.Device, error) { return nil, ErrNoCeph }
