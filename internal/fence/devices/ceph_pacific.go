//go:build pacific

package devices

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/fence/cephbl"
)

func ceph(d config.Device, h config.Host, log *slog.Logger) (fence.Device, error) {
	c := cephbl.DefaultConfig()
	c.ConfPath, c.Host = d.CephConf, h.Name
	if d.CephUser != "" {
		c.User = d.CephUser
	}
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
		c.MinLifetime = c.Expire / 2
	}
	if t := d.Timeout.Std(); t > c.VerifyTimeout {
		c.VerifyTimeout = t
	}
	return cephbl.New(c, log)
}
