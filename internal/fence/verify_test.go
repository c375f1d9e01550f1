package fence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// reads scripts a power-state read: each call returns the next entry, the
// last one forever. "on", "off" or "err".
func reads(script ...string) func(context.Context) (Status, error) {
	return func(context.Context) (Status, error) {
		s := script[0]
		if len(script) > 1 {
			script = script[1:]
		}
		switch s {
		case "on":
			return StatusOn, nil
		case "off":
			return StatusOff, nil
		}
		return StatusUnknown, ErrUnreachable
	}
}

func TestPowerCheckAwait(t *testing.T) {
	tests := []struct {
		name      string
		wait      time.Duration
		script    []string
		wantReads int           // 0: ErrNotVerified expected
		wantTook  time.Duration // fake time
		wantWhy   string        // in the error
	}{
		{name: "off at once, held for power_wait", wait: 2 * time.Second, script: []string{"off"},
			wantReads: 5, wantTook: 2 * time.Second},
		{name: "power_wait 0 still takes two reads", wait: 0, script: []string{"off"},
			wantReads: 2, wantTook: 500 * time.Millisecond},
		{name: "settles after two reads", wait: time.Second, script: []string{"on", "on", "off"},
			wantReads: 5, wantTook: 2 * time.Second},
		// A BMC that says off for a moment during a reset, then on again:
		// one read once made that a proof.
		{name: "a blip of off does not count", wait: time.Second, script: []string{"off", "on"},
			wantTook: 10 * time.Second, wantWhy: "power read off on 1 consecutive reads, then on"},
		{name: "a failed read starts the count again", wait: time.Second, script: []string{"off", "off", "err", "off"},
			wantReads: 6, wantTook: 2500 * time.Millisecond},
		{name: "never off", wait: time.Second, script: []string{"on"},
			wantTook: 10 * time.Second, wantWhy: "power still on"},
		{name: "reads keep failing", wait: time.Second, script: []string{"err"},
			wantTook: 10 * time.Second, wantWhy: "no read answered; last failed read"},
		{name: "off but not for long enough", wait: time.Minute, script: []string{"off"},
			wantTook: 10 * time.Second, wantWhy: "short of power_wait 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c := PowerCheck{Interval: 500 * time.Millisecond, Wait: tt.wait}
				start := time.Now()
				r, err := c.Await(ctx, StatusOff, reads(tt.script...), nil)
				took := time.Since(start)
				if tt.wantReads > 0 {
					if err != nil || r.Reads != tt.wantReads || r.Agreed < 2 || r.Held < tt.wait {
						t.Fatalf("Await() = %+v, %v; want verified on read %d", r, err, tt.wantReads)
					}
					if !strings.Contains(r.String(), "power read off on") {
						t.Errorf("reading %q does not say what was read", r)
					}
					// The typed proof holds exactly the agreeing run,
					// power_wait apart from first to last.
					p := r.Proof()
					if len(p.Reads) != r.Agreed || p.Reads[0].State != "off" ||
						p.Reads[len(p.Reads)-1].At.Sub(p.Reads[0].At) != r.Held || r.Held < tt.wait {
						t.Errorf("proof %+v does not hold the %d agreeing reads over %v", p, r.Agreed, r.Held)
					}
				} else if !errors.Is(err, ErrNotVerified) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tt.wantWhy) {
					t.Fatalf("Await() = %v, want ErrNotVerified saying %q", err, tt.wantWhy)
				}
				if took != tt.wantTook {
					t.Errorf("Await() took %v, want %v", took, tt.wantTook)
				}
			})
		})
	}
}
