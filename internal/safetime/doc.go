// Package safetime computes how long the controller must wait, after it last
// heard from a silent host, before it may assume that host's hardware watchdog
// has reset it: the floor under self_fence.assume_dead_after.
//
// The self-fencing path works like this. The host agent reports once per
// agent.report_interval and feeds the hardware watchdog only while it holds a
// grant from the leader, which lasts self_fence.isolation_timeout from the
// report it answers (docs/architecture.md, "The watchdog contract"). When the
// grant ends it stops feeding the watchdog, and
// the watchdog resets the host self_fence.watchdog_timeout after the last
// feed. A reset host no longer runs its guests, so once that moment has surely
// passed the controller may treat the host as fenced even though no fence
// device answered. The device may be pinged twice more after the grant ended
// (a touch whose check came just before the end, and the kernel's ping when
// the agent process exits holding it), so the worst case counts the watchdog
// timeout WatchdogTimers times.
//
// The package is pure arithmetic on durations: it must never read a clock,
// sleep, log, or look at a real watchdog. Its one promise is that Minimum
// never returns less than the worst case above plus a margin, and that Check
// rejects every configured wait below it; when in doubt it errs long.
package safetime
