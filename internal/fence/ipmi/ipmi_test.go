package ipmi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bougou/go-ipmi/pkg/types"
	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
)

// read is one answer of the fake BMC to a power-state read.
type read struct {
	on  bool
	err error
}

// fakeBMC scripts what sessions see. The last read repeats forever.
type fakeBMC struct {
	mu       sync.Mutex
	dialErrs []error // one per dial, then dials succeed
	setErr   error
	diagErr  error
	reads    []read
	calls    []string // "dial", "set on", "set off", "read", "diag", "close"
}

func (f *fakeBMC) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeBMC) dial(ctx context.Context) (session, error) {
	f.record("dial")
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.dialErrs) > 0 {
		err := f.dialErrs[0]
		f.dialErrs = f.dialErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	return fakeSession{f}, nil
}

type fakeSession struct{ f *fakeBMC }

func (s fakeSession) setPower(ctx context.Context, on bool) error {
	s.f.record(map[bool]string{true: "set on", false: "set off"}[on])
	return s.f.setErr
}

func (s fakeSession) powerIsOn(ctx context.Context) (bool, error) {
	s.f.record("read")
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	r := s.f.reads[0]
	if len(s.f.reads) > 1 {
		s.f.reads = s.f.reads[1:]
	}
	return r.on, r.err
}

func (s fakeSession) diag(ctx context.Context) error {
	s.f.record("diag")
	return s.f.diagErr
}

func (s fakeSession) close() { s.f.record("close") }

func newFakeDevice(t *testing.T, f *fakeBMC) *Device {
	t.Helper()
	c := validConfig()
	c.PowerWait = 0 // two agreeing reads, PollInterval apart (fence.PowerCheck has its own tests)
	d, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.dial = f.dial
	return d
}

var errLost = fmt.Errorf("chassis status: %w", fence.ErrUnreachable)

func TestOff(t *testing.T) {
	tests := []struct {
		name      string
		bmc       *fakeBMC
		wantErr   error // nil = a Proof is expected
		wantCalls []string
		wantTook  time.Duration // fake time Off took
	}{
		{
			name:      "off on first read",
			bmc:       &fakeBMC{reads: []read{{on: false}}},
			wantCalls: []string{"dial", "set off", "read", "read", "close"},
			wantTook:  500 * time.Millisecond,
		},
		{
			name:      "off on third read",
			bmc:       &fakeBMC{reads: []read{{on: true}, {on: true}, {on: false}}},
			wantCalls: []string{"dial", "set off", "read", "read", "read", "read", "close"},
			wantTook:  1500 * time.Millisecond,
		},
		{
			name:      "failed read opens a new session",
			bmc:       &fakeBMC{reads: []read{{err: errLost}, {on: false}}},
			wantCalls: []string{"dial", "set off", "read", "close", "dial", "read", "read", "close"},
			wantTook:  time.Second,
		},
		{
			name:     "never off",
			bmc:      &fakeBMC{reads: []read{{on: true}}},
			wantErr:  fence.ErrNotVerified,
			wantTook: 30 * time.Second,
		},
		{
			name:     "reads keep failing",
			bmc:      &fakeBMC{reads: []read{{err: errLost}}},
			wantErr:  fence.ErrNotVerified,
			wantTook: 30 * time.Second,
		},
		{
			name:      "unreachable",
			bmc:       &fakeBMC{dialErrs: []error{fmt.Errorf("open session: %w", fence.ErrUnreachable)}},
			wantErr:   fence.ErrUnreachable,
			wantCalls: []string{"dial"},
		},
		{
			name:      "wrong password",
			bmc:       &fakeBMC{dialErrs: []error{fmt.Errorf("open session: %w", fence.ErrAuth)}},
			wantErr:   fence.ErrAuth,
			wantCalls: []string{"dial"},
		},
		{
			name:      "command refused",
			bmc:       &fakeBMC{setErr: fmt.Errorf("chassis control: %w", fence.ErrRefused), reads: []read{{on: false}}},
			wantErr:   fence.ErrRefused,
			wantCalls: []string{"dial", "set off", "close"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFakeDevice(t, tt.bmc)
				start := time.Now()
				proof, err := d.Off(context.Background())
				took := time.Since(start)
				if tt.wantErr == nil {
					if err != nil {
						t.Fatalf("Off() = %v, want a proof", err)
					}
					if proof.Driver != "ipmi" || !strings.Contains(proof.Detail, "power read off on 2 consecutive reads") {
						t.Errorf("Off() proof = %+v, want the ipmi driver and a read-back", proof)
					}
				} else {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Off() = %v, want %v", err, tt.wantErr)
					}
					if proof != (fence.Proof{}) {
						t.Errorf("Off() failed but returned proof %+v", proof)
					}
				}
				if tt.wantCalls != nil {
					if diff := cmp.Diff(tt.wantCalls, tt.bmc.calls); diff != "" {
						t.Errorf("calls (-want +got):\n%s", diff)
					}
				}
				if took != tt.wantTook {
					t.Errorf("Off() took %v, want %v", took, tt.wantTook)
				}
			})
		})
	}
}

func TestOffNotVerifiedSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDevice(t, &fakeBMC{reads: []read{{on: true}}})
		_, err := d.Off(context.Background())
		if err == nil || !strings.Contains(err.Error(), "power still on") {
			t.Fatalf("Off() = %v, want it to say the power is still on", err)
		}
		if errors.Is(err, fence.ErrUnreachable) {
			t.Errorf("Off() = %v: a BMC that answers is not unreachable", err)
		}
	})
}

func TestOffHonoursCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDevice(t, &fakeBMC{reads: []read{{on: true}}})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := d.Off(ctx)
		if !errors.Is(err, fence.ErrNotVerified) || time.Since(start) != 2*time.Second {
			t.Fatalf("Off() = %v after %v, want ErrNotVerified after 2s", err, time.Since(start))
		}
	})
}

func TestOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeBMC{reads: []read{{on: false}, {on: true}}}
		d := newFakeDevice(t, f)
		if err := d.On(context.Background()); err != nil {
			t.Fatalf("On() = %v", err)
		}
		want := []string{"dial", "set on", "read", "read", "read", "close"}
		if diff := cmp.Diff(want, f.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDevice(t, &fakeBMC{reads: []read{{on: false}}})
		start := time.Now()
		if err := d.On(context.Background()); !errors.Is(err, fence.ErrNotVerified) || time.Since(start) != 60*time.Second {
			t.Fatalf("On() = %v after %v, want ErrNotVerified after OnTimeout", err, time.Since(start))
		}
	})
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		bmc     *fakeBMC
		want    fence.Status
		wantErr error
	}{
		{"on", &fakeBMC{reads: []read{{on: true}}}, fence.StatusOn, nil},
		{"off", &fakeBMC{reads: []read{{on: false}}}, fence.StatusOff, nil},
		{"read fails", &fakeBMC{reads: []read{{err: errLost}}}, fence.StatusUnknown, fence.ErrUnreachable},
		{"auth", &fakeBMC{dialErrs: []error{fmt.Errorf("x: %w", fence.ErrAuth)}}, fence.StatusUnknown, fence.ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newFakeDevice(t, tt.bmc).Status(context.Background())
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Status() = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
			if calls := tt.bmc.calls; len(calls) > 1 && calls[len(calls)-1] != "close" {
				t.Errorf("session not closed: %v", calls)
			}
		})
	}
}

// A BMC that reads off for a moment after the command (during a reset, say)
// and then on again: a single "off" read once made that a proof.
func TestOffBlipIsNotProof(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newFakeDevice(t, &fakeBMC{reads: []read{{on: false}, {on: true}}})
		proof, err := d.Off(context.Background())
		if !errors.Is(err, fence.ErrNotVerified) || proof != (fence.Proof{}) {
			t.Fatalf("Off() = %+v, %v; want ErrNotVerified", proof, err)
		}
	})
}

// Diag reads the power first and sends the interrupt only to a host that is
// on, once, in one session; it never changes power.
func TestDiag(t *testing.T) {
	unsupported := diagErr(classify("chassis control", types.NewResponseError(0xcc, "invalid data field"), true))
	tests := []struct {
		name      string
		bmc       *fakeBMC
		wantErr   error // nil: sent; errAny: an error of no sentinel
		wantCalls []string
	}{
		{name: "host on", bmc: &fakeBMC{reads: []read{{on: true}}},
			wantCalls: []string{"dial", "read", "diag", "close"}},
		{name: "host off: nothing sent", bmc: &fakeBMC{reads: []read{{on: false}}},
			wantErr: errAny, wantCalls: []string{"dial", "read", "close"}},
		{name: "BMC cannot", bmc: &fakeBMC{reads: []read{{on: true}}, diagErr: unsupported},
			wantErr: fence.ErrDiagUnsupported, wantCalls: []string{"dial", "read", "diag", "close"}},
		{name: "reply lost: not sent again", bmc: &fakeBMC{reads: []read{{on: true}}, diagErr: errLost},
			wantErr: fence.ErrUnreachable, wantCalls: []string{"dial", "read", "diag", "close"}},
		{name: "no session", bmc: &fakeBMC{dialErrs: []error{fmt.Errorf("open session: %w", fence.ErrAuth)}},
			wantErr: fence.ErrAuth, wantCalls: []string{"dial"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, err := newFakeDevice(t, tt.bmc).Diag(context.Background())
			switch {
			case tt.wantErr == nil && (err != nil || !strings.Contains(detail, "pulse diagnostic interrupt accepted")):
				t.Errorf("Diag() = %q, %v; want it accepted", detail, err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("Diag() = %q, want an error", detail)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("Diag() = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantCalls, tt.bmc.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// errAny stands for "an error, whichever" in tables.
var errAny = errors.New("any error")
