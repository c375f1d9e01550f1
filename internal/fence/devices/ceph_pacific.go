//go:build pacific

package devices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/cephbl"
)

func ceph(d config.Device, h config.Host, log *slog.Logger) (fence.Device, error) {
	c := cephbl.DefaultConfig()
	c.ConfPath, c.User, c.Host = d.CephConf, d.CephUser, h.Name
	for _, s := range h.StorageIPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("storage_ips: %q is not an IP address", s)
		}
		c.HostIPs = append(c.HostIPs, ip)
	}
	if d.Pool != "" {
		c.Pools = []string{d.Pool}
	}
	if d.Expiry > 0 {
		c.Expire = d.Expiry.Std()
	}
	if t := d.Timeout.Std(); t > c.VerifyTimeout {
		c.VerifyTimeout = t
	}
	dev, err := cephbl.New(c, log)
	if err != nil {
		return nil, err
	}
	return manualUnfence{dev}, nil
}

// manualUnfence is the blocklist device as `vigil fence` uses it: a fresh
// process never added the entries itself, so On lifts every entry on the
// host's IPs (and only those) when the device knows none of its own.
type manualUnfence struct{ *cephbl.Device }

func (m manualUnfence) On(ctx context.Context) error {
	err := m.Device.On(ctx)
	if errors.Is(err, cephbl.ErrUnknownEntries) {
		_, err = m.RemoveHostEntries(ctx)
	}
	return err
}
