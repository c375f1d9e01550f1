//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/fence"
)

// Release lifts the host's blocklist fence from its record: it removes the
// entries the record shows as vigil's and that a listing still shows as the
// ones vigil added (stillOurs), and leaves every other entry (librbd's lock
// breaks, other tools', ones re-made by someone after vigil's lapsed). With
// rel.AllEntries it removes every entry on the host's IPs instead.
//
// It lifts only with evidence that the host was reset since it was fenced
// (a boot id different from the record's) or an operator's force
// (fence.Release.Reason), and returns which, with what it removed and kept.
func (d *Device) Release(ctx context.Context, rel fence.Release) (string, error) {
	recs := recordsOf(rel.Proofs, d.cfg.HostIPs)
	if len(recs) == 0 && !rel.AllEntries && rel.Since.IsZero() {
		return "", fmt.Errorf("%w for %s: pass the fence's proofs, or remove every entry on the host's IPs (--all-entries)", ErrNoRecord, d.cfg.Host)
	}
	bootID := ""
	for _, r := range recs {
		if r.BootID != "" {
			bootID = r.BootID
		}
	}
	reason, err := rel.Reason(bootID)
	if err != nil {
		return "", err
	}
	type recorded struct {
		e   entry
		rec fence.BlocklistEntry
		end time.Time
	}
	var mine []recorded
	for _, r := range recs {
		for _, rec := range r.Entries {
			e, err := parseEntry(rec.Addr, rec.Range)
			if err != nil {
				return "", err
			}
			if !e.onHost(d.cfg.HostIPs) {
				return "", fmt.Errorf("%w: %s", ErrForeignEntry, rec.Addr)
			}
			if rec.Ours {
				mine = append(mine, recorded{e, rec, r.FencedAt})
			}
		}
	}
	s, err := d.connect(ctx)
	if err != nil {
		return "", err
	}
	defer s.close()
	b, err := s.blocklistLS()
	if err != nil {
		return "", err
	}
	var remove, kept []entry
	if rel.AllEntries {
		remove = b.onHostEntries(d.cfg.HostIPs)
	} else if !rel.Since.IsZero() {
		// Adds of the incidents lifted whose records were lost: vigil's
		// expiry, made since the first of them opened (claim).
		for _, e := range b.onHostEntries(d.cfg.HostIPs) {
			if until, _ := b.until(e); d.madeSince(until, rel.Since) {
				remove = append(remove, e)
			}
		}
	}
	for _, m := range mine {
		until, listed := b.until(m.e)
		switch {
		case !listed || rel.AllEntries || slices.Contains(remove, m.e):
		case stillOurs(m.rec, until, m.end, d.cfg.ClockSkew):
			remove = append(remove, m.e)
		default:
			kept = append(kept, m.e)
			d.log.Warn("entry kept: its expiry shows someone else made it", "entry", m.e.String(), "until", until)
		}
	}
	if err := d.remove(ctx, s, remove); err != nil {
		return "", err
	}
	d.keep(nil)
	out := fmt.Sprintf("unfenced (%s): removed [%s]", reason, joinEntries(remove))
	if len(kept) > 0 {
		out += fmt.Sprintf(", kept [%s] (not vigil's)", joinEntries(kept))
	}
	d.log.Info("unfenced", "detail", out)
	return out, nil
}

func joinEntries(es []entry) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

// remove removes entries, concurrently (the removals share an osdmap
// epoch), and polls until none is listed.
func (d *Device) remove(ctx context.Context, s *session, entries []entry) error {
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			if errs[i] = s.rm(e); errs[i] == nil {
				d.log.Info("unblocklisted", "entry", e.String())
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err // a retry removes them again; removing an absent entry is fine
	}
	return d.poll(ctx, func() (string, error) {
		b, err := s.blocklistLS()
		if err != nil {
			return "", err
		}
		var left []entry
		for _, e := range entries {
			if _, ok := b.until(e); ok {
				left = append(left, e)
			}
		}
		if len(left) > 0 {
			return "entries still listed: " + joinEntries(left), nil
		}
		return "", nil
	})
}

// capsProbe is an address the mon rejects (EINVAL) once it has allowed the
// command: a blocklist change that can never change anything.
const capsProbe = "vigil-caps-probe"

// proveCaps shows the user may fence, without changing anything: `osd
// blocklist rm` of an invalid address answers EINVAL when the caps allow
// the command and EACCES when they do not; a stat in each configured pool
// answers ENOENT with read caps and EPERM/EACCES without.
func (d *Device) proveCaps(s *session) error {
	_, err := s.monCommand("osd blocklist rm (caps probe)", map[string]any{
		"prefix": "osd blocklist", "blocklistop": "rm", "addr": capsProbe,
	})
	switch errnoOf(err) {
	case int(syscall.EINVAL):
	case 0:
		return fmt.Errorf("cephbl: caps probe: the mon accepted `osd blocklist rm %s`; cannot tell whether client.%s may fence", capsProbe, d.cfg.User)
	default:
		if errors.Is(err, fence.ErrRefused) {
			return fmt.Errorf("cephbl: client.%s may not change the blocklist (needs mon 'allow r, allow command \"osd blocklist\"'): %w", d.cfg.User, err)
		}
		return err
	}
	for _, pool := range d.cfg.Pools {
		if err := s.probe(pool, capsProbe); err != nil {
			return fmt.Errorf("cephbl: client.%s cannot read pool %s (needs osd 'profile rbd-read-only pool=%s'): %w", d.cfg.User, pool, pool, err)
		}
	}
	return nil
}

// renewGuard is the least time a cover entry must have left to be relied on
// while an entry it covers is removed and added again.
const renewGuard = 10 * time.Minute
