//go:build pacific

package cephbl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/vigil-ha/vigil/internal/fence"
)

// session is one librados connection, opened for one Off, On or Status and
// shut down at its end: nothing outlives a call, and a stale or
// blocklisted connection is never reused.
type session struct {
	conn *rados.Conn
	self []addr

	// mu guards ioctxs: images are opened and PGs probed concurrently.
	mu     sync.Mutex
	ioctxs map[string]*rados.IOContext
}

// connect opens a session. librados calls cannot be interrupted, so the
// context's deadline is turned into librados' own timeouts: each blocking
// call ends by itself no later than the deadline (rounded up to a second).
func (d *Device) connect(ctx context.Context) (_ *session, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cephbl: %w: %w", fence.ErrUnreachable, err)
	}
	conn, err := rados.NewConnWithUser(d.cfg.User)
	if err != nil {
		return nil, fmt.Errorf("cephbl: new connection: %w", err)
	}
	// A handle that never connected still holds librados' context (its
	// threads, its log): shut it down on every failure.
	defer func() {
		if err != nil {
			conn.Shutdown()
		}
	}()
	if err := conn.ReadConfigFile(d.cfg.ConfPath); err != nil {
		return nil, fmt.Errorf("cephbl: read %s: %w", d.cfg.ConfPath, err)
	}
	opts := map[string]time.Duration{
		"client_mount_timeout": d.cfg.ConnectTimeout,
		"rados_mon_op_timeout": d.cfg.OpTimeout,
		"rados_osd_op_timeout": d.cfg.OpTimeout,
	}
	for name, limit := range opts {
		if err := conn.SetConfigOption(name, seconds(ctx, limit)); err != nil {
			return nil, fmt.Errorf("cephbl: set %s: %w", name, err)
		}
	}
	if err := conn.Connect(); err != nil {
		return nil, connectError(d.cfg.User, errnoOf(err), err)
	}
	s := &session{conn: conn, ioctxs: map[string]*rados.IOContext{}}
	own, err := conn.GetAddrs()
	if err == nil {
		s.self, err = parseAddrs(own)
	}
	if err != nil {
		return nil, fmt.Errorf("cephbl: own client address: %w", err)
	}
	return s, nil
}

// seconds renders min(limit, time left before ctx's deadline) as whole
// seconds, at least 1, for a librados timeout option.
func seconds(ctx context.Context, limit time.Duration) string {
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl))
	}
	return strconv.Itoa(max(1, int(math.Ceil(limit.Seconds()))))
}

func (s *session) close() {
	for _, io := range s.ioctxs {
		io.Destroy()
	}
	s.conn.Shutdown()
}

// monCommand runs a mon command; a failure is classified by its errno.
func (s *session) monCommand(what string, cmd map[string]any) ([]byte, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	out, info, err := s.conn.MonCommand(b)
	if err != nil {
		return nil, commandError(what, errnoOf(err), info, err)
	}
	return out, nil
}

// add adds one entry (an address or a range) with the given expiry.
func (s *session) add(e entry, expire time.Duration) error {
	cmd := map[string]any{"prefix": "osd blocklist", "blocklistop": "add", "addr": e.String(), "expire": expireArg(expire)}
	if e.isRange() {
		cmd["range"] = "range"
	}
	_, err := s.monCommand("osd blocklist add "+e.String(), cmd)
	return err
}

// rm removes one exact entry. Removing an absent entry succeeds (Pacific
// answers 0 "isn't blocklisted"; ENOENT is taken the same way).
func (s *session) rm(e entry) error {
	cmd := map[string]any{"prefix": "osd blocklist", "blocklistop": "rm", "addr": e.String()}
	if e.isRange() {
		cmd["range"] = "range"
	}
	_, err := s.monCommand("osd blocklist rm "+e.String(), cmd)
	if errnoOf(err) == int(syscall.ENOENT) {
		return nil
	}
	return err
}

func (s *session) blocklistLS() (blocklist, error) {
	out, err := s.monCommand("osd blocklist ls", map[string]any{"prefix": "osd blocklist ls", "format": "json"})
	if err != nil {
		return blocklist{}, err
	}
	return parseBlocklist(out)
}

// poolInfo is what the barrier needs of a pool, from `osd dump`.
type poolInfo struct {
	ID         int64  `json:"pool"`
	Name       string `json:"pool_name"`
	PGNum      uint32 `json:"pg_num"`
	ObjectHash int    `json:"object_hash"`
}

// osdmap is the part of `osd dump` the driver reads.
type osdmap struct {
	Epoch     uint64            `json:"epoch"`
	Pools     []poolInfo        `json:"pools"`
	Blocklist map[string]string `json:"blocklist"`
	Ranges    map[string]string `json:"range_blocklist"`
}

// osdDump reads the mon's current osdmap: its epoch, pools and blocklist
// in one answer, so the epoch is one that carries the listed entries.
func (s *session) osdDump() (osdmap, blocklist, error) {
	out, err := s.monCommand("osd dump", map[string]any{"prefix": "osd dump", "format": "json"})
	if err != nil {
		return osdmap{}, blocklist{}, err
	}
	var m osdmap
	if err := json.Unmarshal(out, &m); err != nil {
		return osdmap{}, blocklist{}, fmt.Errorf("cephbl: osd dump: %w", err)
	}
	b := blocklist{Entries: map[addr]time.Time{}, Ranges: map[netip.Prefix]time.Time{}}
	for text, until := range m.Blocklist {
		a, err := parseAddr(text)
		u, uerr := time.Parse(untilLayout, until)
		if err != nil || uerr != nil {
			return osdmap{}, blocklist{}, fmt.Errorf("cephbl: osd dump: blocklist entry %q %q", text, until)
		}
		b.Entries[a] = u
	}
	for text, until := range m.Ranges {
		p, err := parseRange(text)
		u, uerr := time.Parse(untilLayout, until)
		if err != nil || uerr != nil {
			return osdmap{}, blocklist{}, fmt.Errorf("cephbl: osd dump: blocklist range %q %q", text, until)
		}
		b.Ranges[p] = u
	}
	return m, b, nil
}

// waitLatestMap makes the driver's client fetch the latest osdmap the mon
// has: every request it sends afterwards carries that epoch, and an OSD
// serves it only once it has that epoch itself.
func (s *session) waitLatestMap() error {
	if err := s.conn.WaitForLatestOSDMap(); err != nil {
		return commandError("wait for the latest osdmap", errnoOf(err), "", err)
	}
	return nil
}

// probe stats an object that does not exist: answered (ENOENT) by the
// primary OSD of its PG once that OSD has the client's osdmap epoch.
func (s *session) probe(pool, name string) error {
	io, err := s.ioctx(pool)
	if err != nil {
		return err
	}
	_, err = io.Stat(name)
	if err == nil || errnoOf(err) == int(syscall.ENOENT) {
		return nil
	}
	return commandError("probe "+pool+"/"+name, errnoOf(err), "", err)
}

func (s *session) ioctx(pool string) (*rados.IOContext, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if io, ok := s.ioctxs[pool]; ok {
		return io, nil
	}
	io, err := s.conn.OpenIOContext(pool)
	if err != nil {
		return nil, commandError("open pool "+pool, errnoOf(err), "", err)
	}
	s.ioctxs[pool] = io
	return io, nil
}

// poolImages lists every image of pool.
func (s *session) poolImages(pool string) ([]ImageRef, error) {
	io, err := s.ioctx(pool)
	if err != nil {
		return nil, err
	}
	names, err := rbd.GetImageNames(io)
	if err != nil {
		return nil, commandError("list images of "+pool, errnoOf(err), "", err)
	}
	refs := make([]ImageRef, len(names))
	for i, n := range names {
		refs[i] = ImageRef{Pool: pool, Name: n}
	}
	return refs, nil
}

// openImage opens an image read-only; it never takes the image's lock. A
// missing image is reported as (nil, nil).
func (s *session) openImage(ref ImageRef) (*rbd.Image, error) {
	io, err := s.ioctx(ref.Pool)
	if err != nil {
		return nil, err
	}
	img, err := rbd.OpenImageReadOnly(io, ref.Name, rbd.NoSnapshot)
	if errnoOf(err) == int(syscall.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, commandError("open image "+ref.String(), errnoOf(err), "", err)
	}
	return img, nil
}

// lockOwners returns the addresses of the clients holding an image's lock:
// the exclusive-lock owner (tag "internal", cookie "auto <handle>") and any
// advisory locker. It reads the lock record with rbd_list_lockers, what
// `rbd lock ls` shows: rbd_lock_get_owners (go-ceph LockGetOwners) answers
// EINVAL on a read-only handle (measured, 16.2.15), and the driver never
// opens a disk read-write.
func lockOwners(ref ImageRef, img *rbd.Image) ([]addr, error) {
	_, lockers, err := img.ListLockers()
	if errnoOf(err) == int(syscall.ENOENT) {
		return nil, nil // no lock record
	}
	if err != nil {
		return nil, commandError("lockers of "+ref.String(), errnoOf(err), "", err)
	}
	var as []addr
	for _, l := range lockers {
		a, err := parseAddr(l.Addr)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

// watchers returns the addresses watching an image's header.
func watchers(ref ImageRef, img *rbd.Image) ([]addr, error) {
	ws, err := img.ListWatchers()
	if err != nil {
		return nil, commandError("watchers of "+ref.String(), errnoOf(err), "", err)
	}
	as := make([]addr, 0, len(ws))
	for _, w := range ws {
		a, err := parseAddr(w.Addr)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

// errnoOf returns the positive errno a go-ceph error carries, or 0.
func errnoOf(err error) int {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		n := coded.ErrorCode()
		if n < 0 {
			n = -n
		}
		return n
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return int(errno)
	}
	return 0
}
