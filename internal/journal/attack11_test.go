package journal

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Eleventh adversarial review (attack11), against c966ce6. Each test fails
// on the code it was written against.

// Finding N9 (two members acting at once): Deadline, which the Runner
// checks before every action and grant (time.Now().Before(Deadline() -
// Margin)), is kept as Unix nanoseconds and rebuilt with time.Unix: it
// carries no monotonic clock reading, so the comparison falls back to the
// wall clock (package time: "If either t or u contains no monotonic clock
// reading, these operations fall back to using the wall clock readings").
// A wall clock stepped back (chronyd makestep, ntpdate, an operator's
// date -s) while the member is cut off from etcd moves its deadline
// later by the step: by 30 s, it fences, evacuates and grants for 30 s
// after its lease ran out at etcd and a successor was elected and acts.
// The deadline must be counted on the monotonic clock (time.Now().Add
// keeps the reading).
func TestAttack11DeadlineFollowsTheWallClock(t *testing.T) {
	s := startEtcd(t)
	a := member(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.Campaign(ctx, "ctl-a"); err != nil {
		t.Fatal(err)
	}
	d := a.Deadline()
	if time.Until(d) <= 0 || time.Until(d) > 3*time.Second {
		t.Fatalf("setup: deadline %v is not within the 2 s TTL from now", time.Until(d))
	}
	// A Time carries a monotonic reading iff its String ends in "m=±..."
	// (package time, Time.String).
	if !strings.Contains(d.String(), " m=") {
		t.Fatalf("TWO MEMBERS ACT AT ONCE: the lease deadline %s has no monotonic clock reading: the Runner compares it with the wall clock, and a wall clock stepped back by 30 s lets this member act 30 s past its lease", d)
	}
}
