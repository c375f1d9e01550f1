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

// DefaultUser is the cephx user the driver logs in as unless told: a user of
// its own with only the caps a fence needs (docs/fencing.md), not admin.
const DefaultUser = "vigil-fence"

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
	// User is the cephx user without "client.", DefaultUser unless set. It
	// needs mon 'allow r, allow command "osd blocklist"' and
	// osd 'profile rbd-read-only pool=P' for each pool of the host's disks
	// (docs/fencing.md); Status proves both.
	User string
	// Host names the host in logs and proofs.
	Host string
	// HostIPs are the host's addresses as Ceph sees its clients: its
	// storage (Ceph public) network IPs. Required.
	HostIPs []netip.Addr

	// Images are disks of the host known in advance. Images, ListImages
	// and the Target of OffTarget add up; each image is checked once.
	Images []ImageRef
	// ListImages, if set, is called at each Off to get the host's disks.
	ListImages func(ctx context.Context) ([]ImageRef, error)
	// Pools hold the host's instance disks. A Target's instances are
	// looked up in each as Nova names them ("<uuid>_disk"). When no disk of
	// the host is known at all, every image of the pools is read once and
	// those with a watcher or lock owner on the host's IPs are verified.
	Pools []string

	// OwnerEntriesOnly skips the whole-IP entries and blocklists only the
	// exact addresses of lock owners on the host. Use it only when a host
	// IP is shared with something that must keep talking to Ceph; clients
	// on the host that own no lock are then not fenced, and Off on a host
	// with no lock owner fails with fence.ErrNotVerified (nothing to prove).
	OwnerEntriesOnly bool
	// Expire is how long the blocklist entries last if nobody removes them.
	Expire time.Duration
	// MinLifetime is the least time an entry the fence relies on must have
	// left: at Off an entry someone else made with less is not relied on
	// (the driver adds its own cover), and Renew renews vigil's entries
	// once they have less. Default Expire/2: renewed well before expiry.
	MinLifetime time.Duration
	// ClockSkew is how far the mons' clocks may be from this host's: an
	// entry whose add got no reply is taken as vigil's when its listed
	// expiry is within ClockSkew of what vigil asked for.
	ClockSkew time.Duration
	// Parallel bounds concurrent image opens and PG probes.
	Parallel int

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
		User:           DefaultUser,
		Expire:         24 * time.Hour,         // a host that stays down over night stays fenced; Release removes it sooner
		MinLifetime:    12 * time.Hour,         // renewed at half its life: a missed renewal round or two changes nothing
		ClockSkew:      time.Minute,            // NTP keeps mons and vigil within a second; a minute is generous
		Parallel:       16,                     // 16 requests in flight: 1,000 images opened in ~1 s, not one by one
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
	case c.MinLifetime <= 0 || c.MinLifetime >= c.Expire:
		return fmt.Errorf("cephbl: MinLifetime %v must be positive and below Expire %v: entries are renewed when they have less than MinLifetime left", c.MinLifetime, c.Expire)
	case c.ClockSkew < 0 || c.ClockSkew > c.MinLifetime:
		return fmt.Errorf("cephbl: ClockSkew %v must be between 0 and MinLifetime %v", c.ClockSkew, c.MinLifetime)
	case c.Parallel < 1:
		return fmt.Errorf("cephbl: Parallel %d must be at least 1", c.Parallel)
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
