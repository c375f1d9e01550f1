package cephbl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Driver is the name this device gives in its proofs.
const Driver = "ceph-blocklist"

// MinExpire is the shortest blocklist expiry Validate accepts. An entry that
// expires while the host is still alive lets its writers back in, so the
// expiry must outlast any repair; Ceph's own default (1 h) is the floor.
const MinExpire = time.Hour

// ImageRef names one RBD image.
type ImageRef struct {
	Pool string
	Name string
}

func (r ImageRef) String() string { return r.Pool + "/" + r.Name }

// Config describes the storage fence of one host.
type Config struct {
	// ConfPath is the ceph.conf the driver's client reads: mon addresses and
	// the keyring of User.
	ConfPath string
	// User is the cephx user without "client.". It needs mon caps to run
	// `osd blocklist` (e.g. mon 'allow r, allow command "osd blocklist"')
	// and read access to the images' pools (osd 'profile rbd-read-only').
	User string
	// Host names the host in logs and proofs.
	Host string
	// HostIPs are the host's addresses as Ceph sees its clients: its
	// storage (Ceph public) network IPs. Required.
	HostIPs []netip.Addr

	// Images are the host's instance disks. Images, ListImages and Pools
	// add up; each image is checked once.
	Images []ImageRef
	// ListImages, if set, is called at each Off to get the host's disks
	// (for example from Nova's view of the host's instances).
	ListImages func(ctx context.Context) ([]ImageRef, error)
	// Pools are scanned whole at each Off: every image in them is checked.
	// Slow with many images; meant for when the host's disks are unknown.
	Pools []string

	// OwnerEntriesOnly skips the whole-IP entries and blocklists only the
	// exact addresses of lock owners on the host. Use it only when a host
	// IP is shared with something that must keep talking to Ceph; clients
	// on the host that own no lock are then not fenced, and Off on a host
	// with no lock owner fails with fence.ErrNotVerified (nothing to prove).
	OwnerEntriesOnly bool
	// Expire is how long the blocklist entries last if nobody removes them.
	Expire time.Duration

	// ConnectTimeout bounds connecting to the mons.
	ConnectTimeout time.Duration
	// OpTimeout bounds each mon command and each OSD operation.
	OpTimeout time.Duration
	// VerifyTimeout bounds the wait for the entries to be listed and the
	// host's watchers to be gone (Off), or the entries to be gone (On).
	VerifyTimeout time.Duration
	// PollInterval is the time between two verification reads.
	PollInterval time.Duration
}

// DefaultConfig returns a Config with every timing set; the caller fills
// ConfPath, Host, HostIPs and the images.
func DefaultConfig() Config {
	return Config{
		User:           "admin",
		Expire:         24 * time.Hour,         // a host that stays down over night stays fenced; On removes it sooner
		ConnectTimeout: 5 * time.Second,        // a healthy mon answers in < 0.1 s
		OpTimeout:      10 * time.Second,       // `osd blocklist add` commits a map epoch: ~0.1–1 s
		VerifyTimeout:  15 * time.Second,       // writers fail within ~1 s of the new map; watches drop with it
		PollInterval:   200 * time.Millisecond, // one blocklist ls + one watcher list per image per poll
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.ConfPath == "":
		return errors.New("cephbl: ConfPath is empty")
	case c.User == "":
		return errors.New("cephbl: User is empty")
	case c.Host == "":
		return errors.New("cephbl: Host is empty")
	case len(c.HostIPs) == 0:
		return errors.New("cephbl: HostIPs is empty: the host's storage-network IPs are required")
	case c.Expire < MinExpire:
		return fmt.Errorf("cephbl: Expire %v is below %v: the fence would lapse while the host may still be alive", c.Expire, MinExpire)
	case c.ConnectTimeout <= 0 || c.OpTimeout <= 0 || c.VerifyTimeout <= 0:
		return errors.New("cephbl: ConnectTimeout, OpTimeout and VerifyTimeout must be positive")
	case c.PollInterval <= 0 || c.PollInterval >= c.VerifyTimeout:
		return fmt.Errorf("cephbl: PollInterval %v must be positive and below VerifyTimeout %v", c.PollInterval, c.VerifyTimeout)
	case c.OwnerEntriesOnly && len(c.Images) == 0 && c.ListImages == nil && len(c.Pools) == 0:
		return errors.New("cephbl: OwnerEntriesOnly without Images, ListImages or Pools would blocklist nothing")
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range c.HostIPs {
		switch {
		case !ip.IsValid():
			return errors.New("cephbl: HostIPs holds an invalid address")
		case ip.Zone() != "":
			return fmt.Errorf("cephbl: host IP %v has a zone; Ceph addresses have none", ip)
		case ip.IsUnspecified() || ip.IsMulticast():
			return fmt.Errorf("cephbl: host IP %v is not a unicast address", ip)
		case seen[ip.Unmap()]:
			return fmt.Errorf("cephbl: host IP %v listed twice", ip)
		}
		seen[ip.Unmap()] = true
	}
	for _, img := range c.Images {
		if err := img.validate(); err != nil {
			return err
		}
	}
	for _, p := range c.Pools {
		if p == "" {
			return errors.New("cephbl: Pools holds an empty name")
		}
	}
	return nil
}

func (r ImageRef) validate() error {
	if r.Pool == "" || r.Name == "" {
		return fmt.Errorf("cephbl: image %q needs a pool and a name", r.String())
	}
	return nil
}
