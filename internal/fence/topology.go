package fence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrAllLevelsFailed is returned when no level of a topology fenced the host.
var ErrAllLevelsFailed = errors.New("fence: every level of the topology failed")

// Member is one device of a level, with its own patience.
type Member struct {
	Name    string // for humans and logs, e.g. "ipmi 10.0.0.11:623"; never a secret
	Driver  string
	Device  Device
	Timeout time.Duration // per attempt; 0 means the caller's context only
	Retries int           // further attempts after a failed one
	// Power marks a device that cuts power (ipmi, redfish, PDU agents): a
	// level with one is probed afterwards; a storage fence leaves the host
	// running, so a level of storage fences only is not.
	Power bool
	// Storage marks a device that keeps the host's guests off their disks
	// while the host may run on (ceph-blocklist, fence_scsi, fence_mpath):
	// its agent answering does not lift such a fence.
	Storage bool
	// Slot is shared by every member that drives the same physical device
	// (a PDU fencing several hosts): each action, status calls included,
	// holds a place in it. Nil: no limit.
	Slot Slot
}

// Prober tells whether a host still answers after a fence, on a path that
// does not go through the fence device (e.g. ping on its storage network).
// It catches a BMC that says "off" while the host runs on.
type Prober interface {
	Answers(ctx context.Context) (bool, string, error)
}

// Topology is a host's ordered fence levels (Pacemaker's fencing topology):
// every device of a level must succeed and be verified; when one fails, the
// next level is tried.
type Topology struct {
	Host   string
	Levels [][]Member
	// Probe, when set, must stop answering within ProbeWait after a level
	// reported success, or the level counts as failed.
	Probe     Prober
	ProbeWait time.Duration
	// Backoff is the wait between attempts of one member. Default 1s.
	Backoff time.Duration
}

// Step is one thing the topology did, for progress output and the timeline.
type Step struct {
	Level  int
	Member string
	Op     string // "off", "on", "status", "probe"
	Took   time.Duration
	Detail string
	// Proof is what an "off" returned: the proof, or with Err the record
	// of what a failed Off changed (e.g. blocklist entries it added), to be
	// kept for unfencing.
	Proof Proof
	Err   error
}

// Outcome is a verified fence: which level did it and the proofs.
type Outcome struct {
	Level  int
	Proofs []Proof
}

// Summary joins the proofs for humans.
func (o Outcome) Summary() string {
	var parts []string
	for _, p := range o.Proofs {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, "; ")
}

// Off fences the host: level 1, and on failure the next, until one level
// fully succeeds. report, if not nil, sees every step as it happens.
func (t Topology) Off(ctx context.Context, report func(Step)) (Outcome, error) {
	return t.OffTarget(ctx, Target{}, report)
}

// OffTarget is Off for a known Target: devices that verify the target's
// resources (TargetedDevice) are given it.
func (t Topology) OffTarget(ctx context.Context, tgt Target, report func(Step)) (Outcome, error) {
	if len(t.Levels) == 0 {
		return Outcome{}, fmt.Errorf("fence: %s has no fence levels configured", t.Host)
	}
	var errs []error
	for i := range t.Levels {
		out, err := t.OffLevelTarget(ctx, i+1, tgt, report)
		if err == nil {
			return out, nil
		}
		errs = append(errs, fmt.Errorf("level %d: %w", i+1, err))
		if ctx.Err() != nil {
			break
		}
	}
	return Outcome{}, fmt.Errorf("%w for %s: %w", ErrAllLevelsFailed, t.Host, errors.Join(errs...))
}

// OffLevel runs one level (1-based): every member must fence and verify.
func (t Topology) OffLevel(ctx context.Context, level int, report func(Step)) (Outcome, error) {
	return t.OffLevelTarget(ctx, level, Target{}, report)
}

// OffLevelTarget is OffLevel for a known Target.
func (t Topology) OffLevelTarget(ctx context.Context, level int, tgt Target, report func(Step)) (Outcome, error) {
	if level < 1 || level > len(t.Levels) {
		return Outcome{}, fmt.Errorf("fence: %s has no level %d (it has %d)", t.Host, level, len(t.Levels))
	}
	if report == nil {
		report = func(Step) {}
	}
	out := Outcome{Level: level}
	// The probe's baseline: a host that answers right before the fence must
	// stop answering after it. Taken concurrently with the devices: the echo
	// leaves in microseconds, a power cut takes far longer.
	probing := t.Probe != nil && powers(t.Levels[level-1])
	baseline := make(chan probeResult, 1)
	if probing {
		go func() {
			answers, what, err := t.Probe.Answers(ctx)
			baseline <- probeResult{answers, what, err}
		}()
	}
	for _, m := range t.Levels[level-1] {
		var p Proof
		err := t.attempt(ctx, m, func(ctx context.Context) (err error) {
			start := time.Now()
			if td, ok := m.Device.(TargetedDevice); ok {
				p, err = td.OffTarget(ctx, tgt)
			} else {
				p, err = m.Device.Off(ctx)
			}
			report(Step{Level: level, Member: m.Name, Op: "off", Took: time.Since(start), Detail: p.Detail, Proof: p, Err: err})
			return err
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("%s: %w", m.Name, err)
		}
		out.Proofs = append(out.Proofs, p)
	}
	if probing {
		start := time.Now()
		var detail string
		var err error
		switch b := <-baseline; {
		case b.err != nil || !b.answers:
			// Silent before the fence too (a dead host, or a prober that
			// cannot reach the storage network): the probe proves nothing,
			// and says so instead of passing for proof.
			detail = "inconclusive: the host did not answer the probe before the fence either"
			if b.err != nil {
				detail = "inconclusive: " + b.err.Error()
			}
		default:
			detail, err = t.probeGone(ctx)
		}
		report(Step{Level: level, Op: "probe", Took: time.Since(start), Detail: detail, Err: err})
		if err != nil {
			return Outcome{}, err
		}
		out.Proofs = append(out.Proofs, Proof{Driver: "probe", Detail: detail})
	}
	return out, nil
}

type probeResult struct {
	answers bool
	what    string
	err     error
}

func powers(ms []Member) bool {
	for _, m := range ms {
		if m.Power {
			return true
		}
	}
	return false
}

// probeGone waits until the host stops answering on the probe's path.
func (t Topology) probeGone(ctx context.Context) (string, error) {
	wait := t.ProbeWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	answered := "" // what the latest probe that got an answer saw
	for {
		answers, what, err := t.Probe.Answers(ctx)
		if err == nil && !answers {
			return "host no longer answers: " + what, nil
		}
		if err == nil {
			answered = what
		}
		select {
		case <-ctx.Done():
			// A probe cut short by the deadline proves nothing: report
			// what the last complete one saw.
			if answered != "" {
				return "", fmt.Errorf("%w: the device reports the host fenced, but it still answers: %s", ErrNotVerified, answered)
			}
			return "", fmt.Errorf("%w: cannot probe the host after the fence: %w", ErrNotVerified, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// attempt runs op with the member's timeout and retries.
func (t Topology) attempt(ctx context.Context, m Member, op func(context.Context) error) error {
	backoff := t.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	var err error
	for try := 0; try <= m.Retries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(backoff):
			}
		}
		if err = m.Slot.acquire(ctx); err != nil {
			return err
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if m.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, m.Timeout)
		}
		err = op(actx)
		cancel()
		m.Slot.release()
		if err == nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrNoResetEvidence) {
			return err // wrong credentials or settings, or missing evidence, do not get better by retrying
		}
	}
	return err
}

// On lifts every fence of the host: the devices of the last level first
// (storage fences are lifted before the power comes back).
func (t Topology) On(ctx context.Context, report func(Step)) error {
	if report == nil {
		report = func(Step) {}
	}
	var errs []error
	for i := len(t.Levels) - 1; i >= 0; i-- {
		for _, m := range t.Levels[i] {
			err := t.attempt(ctx, m, func(ctx context.Context) error {
				start := time.Now()
				err := m.Device.On(ctx)
				report(Step{Level: i + 1, Member: m.Name, Op: "on", Took: time.Since(start), Err: err})
				return err
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("level %d %s: %w", i+1, m.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Release lifts every fence of the host as On does, but a device that
// lifts from a record (Releaser: storage fences) is given rel and lifts only
// when rel's evidence allows it. The reasons it gives are reported as the
// steps' Detail.
func (t Topology) Release(ctx context.Context, rel Release, report func(Step)) error {
	if report == nil {
		report = func(Step) {}
	}
	var errs []error
	for i := len(t.Levels) - 1; i >= 0; i-- {
		// Within a level too, storage fences before power: the host comes
		// back to storage that is already its own again, never the reverse.
		members := slices.Clone(t.Levels[i])
		slices.SortStableFunc(members, func(a, b Member) int {
			_, ar := a.Device.(Releaser)
			_, br := b.Device.(Releaser)
			switch {
			case ar && !br:
				return -1
			case br && !ar:
				return 1
			}
			return 0
		})
		for _, m := range members {
			err := t.attempt(ctx, m, func(ctx context.Context) (err error) {
				start := time.Now()
				var detail string
				if r, ok := m.Device.(Releaser); ok {
					detail, err = r.Release(ctx, rel)
				} else {
					err = m.Device.On(ctx)
				}
				report(Step{Level: i + 1, Member: m.Name, Op: "on", Took: time.Since(start), Detail: detail, Err: err})
				return err
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("level %d %s: %w", i+1, m.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Health is one device's answer to a status call.
type Health struct {
	Host   string
	Level  int
	Member string
	Driver string
	Status Status
	// Right is what a RightChecker device proved about the account's
	// right to fence; nil when the check failed (Err) and for devices
	// without that check (ceph-blocklist proves its caps inside Status,
	// and fails it without them).
	Right *Right
	Took  time.Duration
	Err   error
}

// Check reads every device's status without changing anything: the health
// check that finds a broken BMC password before the day it is needed, and
// with a RightChecker device an account that may log in but not fence.
func (t Topology) Check(ctx context.Context) []Health {
	var out []Health
	for i, level := range t.Levels {
		for _, m := range level {
			out = append(out, t.checkMember(ctx, i+1, m))
		}
	}
	return out
}

// checkMember runs one member's status call with its timeout, in its slot.
func (t Topology) checkMember(ctx context.Context, level int, m Member) Health {
	h := Health{Host: t.Host, Level: level, Member: m.Name, Driver: m.Driver}
	if h.Err = m.Slot.acquire(ctx); h.Err != nil {
		return h
	}
	defer m.Slot.release()
	actx, cancel := ctx, context.CancelFunc(func() {})
	if m.Timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, m.Timeout)
	}
	defer cancel()
	start := time.Now()
	if rc, ok := m.Device.(RightChecker); ok {
		var r Right
		h.Status, r, h.Err = rc.CheckRight(actx)
		if h.Err == nil {
			h.Right = &r
		}
	} else {
		h.Status, h.Err = m.Device.Status(actx)
	}
	h.Took = time.Since(start)
	return h
}
