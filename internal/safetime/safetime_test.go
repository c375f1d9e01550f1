package safetime_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/safetime"
)

const s = time.Second

func TestCompute(t *testing.T) {
	tests := []struct {
		name string
		in   safetime.Input
		want safetime.Terms
	}{
		{
			name: "defaults: 10% of 41s is below the 5s floor",
			in:   safetime.Input{ReportInterval: 1 * s, IsolationTimeout: 10 * s, WatchdogTimeout: 10 * s},
			want: safetime.Terms{IsolationTimeout: 10 * s, ReportInterval: 1 * s, WatchdogTimeout: 10 * s, Margin: 5 * s, Total: 46 * s},
		},
		{
			name: "10% above the floor, rounded up to a second",
			in:   safetime.Input{ReportInterval: 2 * s, IsolationTimeout: 30 * s, WatchdogTimeout: 60 * s},
			want: safetime.Terms{IsolationTimeout: 30 * s, ReportInterval: 2 * s, WatchdogTimeout: 60 * s, Margin: 22 * s, Total: 234 * s},
		},
		{
			name: "exactly 10% stays",
			in:   safetime.Input{ReportInterval: 10 * s, IsolationTimeout: 30 * s, WatchdogTimeout: 60 * s},
			want: safetime.Terms{IsolationTimeout: 30 * s, ReportInterval: 10 * s, WatchdogTimeout: 60 * s, Margin: 22 * s, Total: 242 * s},
		},
		{
			name: "a nanosecond over 10% rounds up",
			in:   safetime.Input{ReportInterval: 10*s + 1, IsolationTimeout: 30 * s, WatchdogTimeout: 60 * s},
			want: safetime.Terms{IsolationTimeout: 30 * s, ReportInterval: 10*s + 1, WatchdogTimeout: 60 * s, Margin: 23 * s, Total: 243*s + 1},
		},
		{
			name: "sub-second interval",
			in:   safetime.Input{ReportInterval: 250 * time.Millisecond, IsolationTimeout: 2 * s, WatchdogTimeout: 1 * s},
			want: safetime.Terms{IsolationTimeout: 2 * s, ReportInterval: 250 * time.Millisecond, WatchdogTimeout: 1 * s, Margin: 5 * s, Total: 10250 * time.Millisecond},
		},
		{
			name: "overflow saturates instead of wrapping short",
			in:   safetime.Input{ReportInterval: safetime.Forever / 2, IsolationTimeout: safetime.Forever / 2, WatchdogTimeout: 3600 * s},
			want: safetime.Terms{IsolationTimeout: safetime.Forever / 2, ReportInterval: safetime.Forever / 2, WatchdogTimeout: 3600 * s, Margin: safetime.Margin(safetime.Forever), Total: safetime.Forever},
		},
		{
			name: "invalid input is never safe",
			in:   safetime.Input{ReportInterval: 0, IsolationTimeout: 10 * s, WatchdogTimeout: 30 * s},
			want: safetime.Terms{IsolationTimeout: safetime.Forever, ReportInterval: safetime.Forever, WatchdogTimeout: safetime.Forever, Margin: safetime.Forever, Total: safetime.Forever},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := safetime.Compute(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Compute(%+v) (-want +got):\n%s", tt.in, diff)
			}
			if m := safetime.Minimum(tt.in); m != tt.want.Total {
				t.Errorf("Minimum = %v, want %v", m, tt.want.Total)
			}
		})
	}
}

func TestMargin(t *testing.T) {
	tests := []struct {
		sum, want time.Duration
	}{
		{0, 5 * s},
		{1, 5 * s},
		{50 * s, 5 * s},
		{50*s + 1, 6 * s},
		{51 * s, 6 * s},
		{100 * s, 10 * s},
		{safetime.Forever, 922337204 * s}, // ceil(10%) to the second, no overflow
	}
	for _, tt := range tests {
		if got := safetime.Margin(tt.sum); got != tt.want {
			t.Errorf("Margin(%v) = %v, want %v", tt.sum, got, tt.want)
		}
		if got := safetime.Margin(tt.sum); got*10 < tt.sum && tt.sum < safetime.Forever/2 {
			t.Errorf("Margin(%v) = %v is below 10%%", tt.sum, got)
		}
	}
}

func TestCheck(t *testing.T) {
	def := safetime.Input{ReportInterval: 1 * s, IsolationTimeout: 10 * s, WatchdogTimeout: 10 * s}
	tests := []struct {
		name       string
		configured time.Duration
		in         safetime.Input
		wantErr    error // nil: no error
		wantField  string
		wantText   []string // substrings of the message
	}{
		{name: "equal to the minimum", configured: 46 * s, in: def},
		{name: "above the minimum", configured: 60 * s, in: def},
		{
			name: "below", configured: 40 * s, in: def, wantErr: safetime.ErrUnsafe, wantField: safetime.FieldAssumeDeadAfter,
			wantText: []string{
				"self_fence.assume_dead_after: 40s is below the safe minimum 46s (= self_fence.isolation_timeout 10s + agent.report_interval 1s + 3 × self_fence.watchdog_timeout 10s + margin 5s); raise it to at least 46s",
			},
		},
		{name: "one nanosecond short", configured: 46*s - 1, in: def, wantErr: safetime.ErrUnsafe, wantText: []string{"46s"}},
		{name: "zero configured", configured: 0, in: def, wantErr: safetime.ErrInput, wantField: safetime.FieldAssumeDeadAfter, wantText: []string{"positive"}},
		{name: "negative configured", configured: -time.Minute, in: def, wantErr: safetime.ErrInput, wantText: []string{"self_fence.assume_dead_after"}},
		{name: "zero report interval", configured: time.Hour, in: safetime.Input{IsolationTimeout: 10 * s, WatchdogTimeout: 30 * s}, wantErr: safetime.ErrInput, wantField: safetime.FieldReportInterval, wantText: []string{"agent.report_interval", "positive"}},
		{name: "negative isolation", configured: time.Hour, in: safetime.Input{ReportInterval: s, IsolationTimeout: -s, WatchdogTimeout: 30 * s}, wantErr: safetime.ErrInput, wantField: safetime.FieldIsolationTimeout},
		{name: "zero watchdog", configured: time.Hour, in: safetime.Input{ReportInterval: s, IsolationTimeout: s}, wantErr: safetime.ErrInput, wantField: safetime.FieldWatchdogTimeout},
		{name: "fractional watchdog", configured: time.Hour, in: safetime.Input{ReportInterval: s, IsolationTimeout: s, WatchdogTimeout: 1500 * time.Millisecond}, wantErr: safetime.ErrInput, wantField: safetime.FieldWatchdogTimeout, wantText: []string{"whole number of seconds", "2s"}},
		{name: "overflowing input fails safe", configured: safetime.Forever - 1, in: safetime.Input{ReportInterval: safetime.Forever / 2, IsolationTimeout: safetime.Forever / 2, WatchdogTimeout: s}, wantErr: safetime.ErrUnsafe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := safetime.Check(tt.configured, tt.in)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check(%v) = %v, want nil", tt.configured, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check(%v) = %v, want errors.Is %v", tt.configured, err, tt.wantErr)
			}
			var fe *safetime.FieldError
			if !errors.As(err, &fe) || (tt.wantField != "" && fe.Field != tt.wantField) {
				t.Errorf("Check(%v) = %#v, want a *FieldError for %q", tt.configured, err, tt.wantField)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// The promise in doc.go: whatever the input, a wait that passes Check covers
// the worst case (isolation noticed one interval late, then a full watchdog
// timeout) plus at least MinMargin and 10%.
func TestCheckNeverPassesBelowWorstCase(t *testing.T) {
	for _, r := range []time.Duration{time.Millisecond, s, 7 * s} {
		for _, iso := range []time.Duration{time.Millisecond, 3 * s, 10 * s, time.Hour} {
			for _, wd := range []time.Duration{s, 30 * s, 600 * s} {
				in := safetime.Input{ReportInterval: r, IsolationTimeout: iso, WatchdogTimeout: wd}
				worst := r + iso + wd
				floor := max(worst+safetime.MinMargin, worst+worst/10)
				if err := safetime.Check(floor-1, in); !errors.Is(err, safetime.ErrUnsafe) {
					t.Errorf("Check(%v, %+v) = %v, want ErrUnsafe", floor-1, in, err)
				}
				if m := safetime.Minimum(in); m < floor || safetime.Check(m, in) != nil {
					t.Errorf("Minimum(%+v) = %v, want >= %v and accepted by Check", in, m, floor)
				}
			}
		}
	}
}
