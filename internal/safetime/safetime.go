package safetime

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Names of the configuration keys behind each term, used in error messages so
// an operator knows which line of vigil's configuration file to change.
const (
	FieldReportInterval   = "agent.report_interval"
	FieldIsolationTimeout = "self_fence.isolation_timeout"
	FieldWatchdogTimeout  = "self_fence.watchdog_timeout"
	FieldAssumeDeadAfter  = "self_fence.assume_dead_after"
)

const (
	// MinMargin is the smallest margin added to the worst case. It covers
	// the watchdog's coarse timer, the delay of the last message in flight
	// and the controller noticing the deadline on its next tick.
	MinMargin = 5 * time.Second
	// MarginPercent of the worst case is added when that is more than
	// MinMargin: two clocks that each drift a little (the host's, which
	// times isolation and feeds the watchdog, and the controller's, which
	// times the silence) disagree in proportion to the interval measured.
	MarginPercent = 10
)

// WatchdogTimers is how many watchdog timeouts the worst case holds: the
// last touch of the device under a grant, one touch whose check passed
// before the grant ended but that landed after it (a process stopped or
// starved between the two), and the ping Linux gives the device when the
// process holding it exits without the magic close (a crash, a kill).
// docs/architecture.md, "The device itself", shows there is no other.
const WatchdogTimers = 3

// Forever is what Minimum returns for an input it cannot vouch for: no
// configured wait is long enough.
const Forever = time.Duration(math.MaxInt64)

// Errors wrapped by Check and Validate (in a *FieldError), for errors.Is.
var (
	// ErrInput marks an input term that is zero, negative or not usable.
	ErrInput = errors.New("safetime: invalid input")
	// ErrUnsafe marks a configured wait below the safe minimum.
	ErrUnsafe = errors.New("safetime: wait below the safe minimum")
)

// FieldError is the error Check and Validate return: which key is wrong
// and why. Err is ErrInput or ErrUnsafe.
type FieldError struct {
	Field string // e.g. FieldAssumeDeadAfter
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() + ": " + e.Field + ": " + e.Msg }

// Unwrap returns ErrInput or ErrUnsafe.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(sentinel error, field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// Input is the host agent's self-fencing configuration.
type Input struct {
	// ReportInterval is how often the agent reports and checks whether it is
	// isolated (agent.report_interval). It enters the sum once: isolation
	// that begins just after a check is noticed one interval late.
	ReportInterval time.Duration
	// IsolationTimeout is how long a grant from the leader lets the agent
	// feed the watchdog (self_fence.isolation_timeout). The agent counts it
	// from when it sent the report the grant answers, which is before the
	// leader issued the grant, so the leader's count from its grant can only
	// end later (docs/architecture.md, "The watchdog contract").
	IsolationTimeout time.Duration
	// WatchdogTimeout is how long after the last feed the watchdog resets
	// the host (self_fence.watchdog_timeout). The Linux watchdog interface
	// takes whole seconds, so anything else is rejected: a driver that
	// rounded it up would make the sum a lie.
	WatchdogTimeout time.Duration
}

// Terms is the breakdown of a safe minimum, for messages and for operators.
type Terms struct {
	IsolationTimeout time.Duration
	ReportInterval   time.Duration
	WatchdogTimeout  time.Duration
	Margin           time.Duration
	// Total is the sum of the above: the safe minimum.
	Total time.Duration
}

// String shows the sum term by term with the keys to change.
func (t Terms) String() string {
	return fmt.Sprintf("%v (= %s %v + %s %v + %d × %s %v + margin %v)",
		t.Total, FieldIsolationTimeout, t.IsolationTimeout, FieldReportInterval, t.ReportInterval,
		WatchdogTimers, FieldWatchdogTimeout, t.WatchdogTimeout, t.Margin)
}

// Validate rejects inputs the calculation cannot vouch for, naming the key.
func (in Input) Validate() error {
	for _, term := range []struct {
		field string
		d     time.Duration
	}{
		{FieldReportInterval, in.ReportInterval},
		{FieldIsolationTimeout, in.IsolationTimeout},
		{FieldWatchdogTimeout, in.WatchdogTimeout},
	} {
		if term.d <= 0 {
			return fieldErr(ErrInput, term.field, "must be positive, got %v", term.d)
		}
	}
	if in.WatchdogTimeout%time.Second != 0 {
		return fieldErr(ErrInput, FieldWatchdogTimeout, "%v is not a whole number of seconds; the watchdog device counts whole seconds, write e.g. %v",
			in.WatchdogTimeout, in.WatchdogTimeout.Truncate(time.Second)+time.Second)
	}
	return nil
}

// Compute returns the safe minimum term by term. For an input that fails
// Validate every term is Forever, so nothing passes against it.
func Compute(in Input) Terms {
	if in.Validate() != nil {
		return Terms{Forever, Forever, Forever, Forever, Forever}
	}
	sum := sat(in.IsolationTimeout, in.ReportInterval, in.WatchdogTimeout, in.WatchdogTimeout, in.WatchdogTimeout)
	margin := Margin(sum)
	return Terms{
		IsolationTimeout: in.IsolationTimeout,
		ReportInterval:   in.ReportInterval,
		WatchdogTimeout:  in.WatchdogTimeout,
		Margin:           margin,
		Total:            sat(sum, margin),
	}
}

// Minimum is the shortest wait, counted from the leader's last grant to the
// host (or its election, if later), after which the host has surely been reset by its watchdog:
//
//	isolation_timeout + report_interval + watchdog_timeout + margin
//
// with margin = max(MinMargin, MarginPercent% of the sum), rounded up to a
// whole second. It returns Forever for an input that fails Validate.
func Minimum(in Input) time.Duration {
	return Compute(in).Total
}

// Margin returns the margin added to a worst case of sum: the larger of
// MinMargin and MarginPercent percent of sum, rounded up to a whole second
// so that messages stay readable and rounding never shortens the wait.
func Margin(sum time.Duration) time.Duration {
	m := sum/100*MarginPercent + (sum%100*MarginPercent+99)/100 // ceil, no overflow
	if rem := m % time.Second; rem != 0 {
		m = sat(m, time.Second-rem)
	}
	return max(m, MinMargin)
}

// Check returns nil when configured (self_fence.assume_dead_after) is at
// least the safe minimum for in, and otherwise an error naming the keys and
// the sum, wrapping ErrInput or ErrUnsafe.
func Check(configured time.Duration, in Input) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if configured <= 0 {
		return fieldErr(ErrInput, FieldAssumeDeadAfter, "must be positive, got %v", configured)
	}
	t := Compute(in)
	if configured < t.Total {
		return fieldErr(ErrUnsafe, FieldAssumeDeadAfter, "%v is below the safe minimum %v; raise it to at least %v or shorten the timeouts",
			configured, t, t.Total)
	}
	return nil
}

// sat adds non-negative durations, saturating at Forever instead of
// overflowing into a short (or negative) wait.
func sat(ds ...time.Duration) time.Duration {
	var total time.Duration
	for _, d := range ds {
		if total > Forever-d {
			return Forever
		}
		total += d
	}
	return total
}
