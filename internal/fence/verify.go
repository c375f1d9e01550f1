package fence

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// PowerCheck is how a power driver proves that a switch took effect, the one
// act-then-poll loop the ipmi, redfish and fence-agent drivers share: after
// the command, the power state must read the wanted value on consecutive
// reads, the first and the last of them at least Wait apart.
//
// One read is not enough: a BMC can report "off" for a moment during a
// reset or a power-cycle (fence_ipmilan waits --power-wait, default 2 s,
// before it believes a state for the same reason). A read that fails or
// disagrees starts the count again.
type PowerCheck struct {
	// Interval is the pause between two reads.
	Interval time.Duration
	// Wait is power_wait: how long the state must hold. At least two reads
	// agree even when Wait is 0.
	Wait time.Duration
}

// DefaultPowerWait is power_wait when a device does not set one: the 2 s
// fence_ipmilan gives a BMC before it trusts a state.
const DefaultPowerWait = 2 * time.Second

// PowerReading is what a verification saw: the data behind a power proof.
type PowerReading struct {
	Want  Status
	Reads int // reads made, failed ones included
	// Agreed is the number of consecutive reads at Want that closed the
	// check; Settled is the time from the start of the check to the first
	// of them, Held the time from the first to the last.
	Agreed  int
	Settled time.Duration
	Held    time.Duration
	// At are the times of the agreeing reads, oldest first.
	At []time.Time
}

// Proof is the typed record of the reads that closed the check, to store
// with the incident: a successor reads the proof, not its wording.
func (r PowerReading) Proof() *PowerProof {
	p := &PowerProof{}
	for _, at := range r.At {
		p.Reads = append(p.Reads, PowerRead{At: at.UTC(), State: r.Want.String()})
	}
	return p
}

func (r PowerReading) String() string {
	return fmt.Sprintf("power read %s on %d consecutive reads over %v, %v after the command (%d reads)",
		r.Want, r.Agreed, r.Held.Round(time.Millisecond), r.Settled.Round(time.Millisecond), r.Reads)
}

// Await calls read until the state has read want for Wait on consecutive
// reads, and returns what it saw. When ctx ends first it returns an error
// wrapping ErrNotVerified and ctx's error, saying what the reads last
// showed. log, if not nil, gets a warning for each failed read.
func (c PowerCheck) Await(ctx context.Context, want Status, read func(context.Context) (Status, error), log *slog.Logger) (PowerReading, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := c.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	r := PowerReading{Want: want}
	var (
		first   time.Time // of the current run of agreeing reads
		last    = StatusUnknown
		lastErr error // of the latest read that failed before ctx ended
		best    PowerReading
	)
	for {
		r.Reads++
		st, err := read(ctx)
		now := time.Now()
		switch {
		case err != nil:
			r.Agreed, r.At = 0, nil
			if ctx.Err() == nil {
				lastErr = err
				log.Warn("power read failed", "attempt", r.Reads, "error", err)
			}
		case st != want:
			r.Agreed, r.At, last = 0, nil, st
		default:
			if r.Agreed == 0 {
				first = now
				r.Settled = now.Sub(start)
			}
			r.Agreed++
			r.At = append(r.At, now)
			last = st
			r.Held = now.Sub(first)
			if r.Agreed >= 2 && r.Held >= c.Wait {
				return r, nil
			}
			if r.Agreed > best.Agreed {
				best = r
			}
		}
		select {
		case <-ctx.Done():
			why := "no read answered"
			switch {
			case r.Agreed > 0:
				why = fmt.Sprintf("power read %s on %d consecutive reads over %v, short of power_wait %v",
					want, r.Agreed, r.Held.Round(time.Millisecond), c.Wait)
			case best.Agreed > 0:
				why = fmt.Sprintf("power read %s on %d consecutive reads, then %s", want, best.Agreed, lastSeen(last, lastErr))
			case last != StatusUnknown:
				why = "power still " + last.String()
			}
			if lastErr != nil {
				why += fmt.Sprintf("; last failed read: %v", lastErr)
			}
			return r, fmt.Errorf("%w: %s %v after the command (%d reads): %w",
				ErrNotVerified, why, time.Since(start).Round(time.Millisecond), r.Reads, ctx.Err())
		case <-tick.C:
		}
	}
}

func lastSeen(last Status, err error) string {
	if err != nil && last == StatusUnknown {
		return "reads failed"
	}
	return last.String()
}
