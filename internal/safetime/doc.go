// Package safetime computes how long the controller must wait, after it last
// heard from a silent host, before it may assume that host's hardware watchdog
// has reset it: the floor under self_fence.assume_dead_after.
//
// The self-fencing path works like this. The host agent checks once per
// agent.report_interval whether it can still reach the controller or any peer
// on any network. When it has reached none of them for
// self_fence.isolation_timeout, it stops feeding the hardware watchdog, and
// the watchdog resets the host self_fence.watchdog_timeout after the last
// feed. A reset host no longer runs its guests, so once that moment has surely
// passed the controller may treat the host as fenced even though no fence
// device answered.
//
// The package is pure arithmetic on durations: it must never read a clock,
// sleep, log, or look at a real watchdog. Its one promise is that Minimum
// never returns less than the worst case above plus a margin, and that Check
// rejects every configured wait below it; when in doubt it errs long.
package safetime
