package fence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scriptedDevice is an in-memory Device for testing the topology's logic
// (the drivers themselves are tested against real BMCs and Ceph). Each call
// to Off pops the next error from offErrs; nil means a verified fence.
type scriptedDevice struct {
	name    string
	offErrs []error
	calls   *[]string
	status  Status
}

func (d *scriptedDevice) Off(ctx context.Context) (Proof, error) {
	*d.calls = append(*d.calls, d.name+".off")
	var err error
	if len(d.offErrs) > 0 {
		err, d.offErrs = d.offErrs[0], d.offErrs[1:]
	}
	if err != nil {
		return Proof{}, err
	}
	d.status = StatusOff
	return Proof{Driver: d.name, Detail: "verified"}, nil
}

func (d *scriptedDevice) On(ctx context.Context) error {
	*d.calls = append(*d.calls, d.name+".on")
	d.status = StatusOn
	return nil
}

func (d *scriptedDevice) Status(ctx context.Context) (Status, error) {
	*d.calls = append(*d.calls, d.name+".status")
	return d.status, nil
}

type answers struct{ left int }

func (a *answers) Answers(ctx context.Context) (bool, string, error) {
	if a.left > 0 {
		a.left--
		return true, "10.20.0.11 replies to ping", nil
	}
	return false, "10.20.0.11 silent", nil
}

func TestTopologyOff(t *testing.T) {
	unreachable := errors.New("no answer")
	tests := []struct {
		name      string
		levels    [][]string         // device names per level
		errs      map[string][]error // per device, errors of successive Off calls
		retries   int
		wantLevel int
		wantErr   error
		wantCalls []string
	}{
		{name: "first level fences", levels: [][]string{{"ipmi"}, {"ceph"}},
			wantLevel: 1, wantCalls: []string{"ipmi.off"}},
		{name: "fallback to the next level", levels: [][]string{{"ipmi"}, {"ceph"}},
			errs:      map[string][]error{"ipmi": {ErrUnreachable}},
			wantLevel: 2, wantCalls: []string{"ipmi.off", "ceph.off"}},
		{name: "every device of a level must succeed", levels: [][]string{{"pdu", "ceph"}, {"ipmi"}},
			errs:      map[string][]error{"ceph": {ErrRefused}},
			wantLevel: 2, wantCalls: []string{"pdu.off", "ceph.off", "ipmi.off"}},
		{name: "retries within a member", levels: [][]string{{"ipmi"}}, retries: 2,
			errs:      map[string][]error{"ipmi": {unreachable, unreachable}},
			wantLevel: 1, wantCalls: []string{"ipmi.off", "ipmi.off", "ipmi.off"}},
		{name: "wrong password is not retried", levels: [][]string{{"ipmi"}}, retries: 2,
			errs:    map[string][]error{"ipmi": {ErrAuth, nil}},
			wantErr: ErrAuth, wantCalls: []string{"ipmi.off"}},
		{name: "a device's wrong settings are not retried", levels: [][]string{{"redfish"}, {"ipmi"}}, retries: 2,
			errs:      map[string][]error{"redfish": {ErrInvalidConfig, nil}},
			wantLevel: 2, wantCalls: []string{"redfish.off", "ipmi.off"}},
		{name: "all levels fail", levels: [][]string{{"ipmi"}, {"ceph"}},
			errs:    map[string][]error{"ipmi": {ErrUnreachable}, "ceph": {ErrRefused}},
			wantErr: ErrAllLevelsFailed, wantCalls: []string{"ipmi.off", "ceph.off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			topo := Topology{Host: "cmp1", Backoff: time.Millisecond}
			for _, level := range tt.levels {
				var ms []Member
				for _, n := range level {
					ms = append(ms, Member{Name: n, Device: &scriptedDevice{name: n, offErrs: tt.errs[n], calls: &calls}, Retries: tt.retries})
				}
				topo.Levels = append(topo.Levels, ms)
			}
			var steps []Step
			out, err := topo.Off(context.Background(), func(s Step) { steps = append(steps, s) })
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || out.Level != tt.wantLevel {
				t.Fatalf("Off = level %d, %v; want level %d", out.Level, err, tt.wantLevel)
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if len(steps) != len(calls) {
				t.Errorf("reported %d steps for %d calls", len(steps), len(calls))
			}
		})
	}
}

func TestTopologyProbeCatchesLyingDevice(t *testing.T) {
	var calls []string
	topo := Topology{Host: "cmp1", ProbeWait: 600 * time.Millisecond,
		Levels: [][]Member{{{Name: "redfish", Power: true, Device: &scriptedDevice{name: "redfish", calls: &calls}}}},
		Probe:  &answers{left: 1000}}
	_, err := topo.Off(context.Background(), nil)
	if !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), "still answers") {
		t.Fatalf("err = %v, want ErrNotVerified saying the host still answers", err)
	}
	topo.Probe = &answers{left: 1}
	out, err := topo.Off(context.Background(), nil)
	if err != nil {
		t.Fatalf("host that goes quiet after one probe: %v", err)
	}
	if got := out.Summary(); !strings.Contains(got, "no longer answers") {
		t.Errorf("summary %q does not carry the probe's proof", got)
	}
}

func TestTopologyOnLiftsLastLevelFirst(t *testing.T) {
	var calls []string
	topo := Topology{Host: "cmp1", Levels: [][]Member{
		{{Name: "ipmi", Device: &scriptedDevice{name: "ipmi", calls: &calls}}},
		{{Name: "ceph", Device: &scriptedDevice{name: "ceph", calls: &calls}}},
	}}
	if err := topo.On(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ceph.on", "ipmi.on"}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestTopologyCheckChangesNothing(t *testing.T) {
	var calls []string
	topo := Topology{Host: "cmp1", Levels: [][]Member{
		{{Name: "ipmi", Driver: "ipmi", Device: &scriptedDevice{name: "ipmi", calls: &calls, status: StatusOn}}},
		{{Name: "ceph", Driver: "ceph-blocklist", Device: &scriptedDevice{name: "ceph", calls: &calls, status: StatusOn}}},
	}}
	hs := topo.Check(context.Background())
	if len(hs) != 2 || hs[0].Level != 1 || hs[1].Level != 2 || hs[0].Status != StatusOn {
		t.Fatalf("health = %+v", hs)
	}
	if diff := cmp.Diff([]string{"ipmi.status", "ceph.status"}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestTopologyDoesNotProbeAStorageFence(t *testing.T) {
	var calls []string
	topo := Topology{Host: "cmp1", ProbeWait: 300 * time.Millisecond,
		Levels: [][]Member{{{Name: "ceph", Device: &scriptedDevice{name: "ceph", calls: &calls}}}},
		Probe:  &answers{left: 1000}}
	if _, err := topo.Off(context.Background(), nil); err != nil {
		t.Fatalf("a blocklisted host still answers ping, and that is fine: %v", err)
	}
}

// A prober that cannot see the host even before the fence (wrong network, a
// dead host) must not pass for proof: the level rests on the device alone
// and the proof says the probe was inconclusive.
func TestTopologyProbeSilentBeforeIsInconclusive(t *testing.T) {
	var calls []string
	topo := Topology{Host: "cmp1", ProbeWait: 300 * time.Millisecond,
		Levels: [][]Member{{{Name: "redfish", Power: true, Device: &scriptedDevice{name: "redfish", calls: &calls}}}},
		Probe:  &answers{left: 0}}
	out, err := topo.Off(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Summary(); !strings.Contains(got, "inconclusive") || strings.Contains(got, "no longer answers") {
		t.Errorf("summary %q claims the probe proved something", got)
	}
}

// A status read of a shared device waits for the action holding its slot.
func TestReadStatusWaitsForTheSlot(t *testing.T) {
	slot := make(Slot, 1)
	m := Member{Name: "pdu", Device: statusOnly{}, Slot: slot}
	slot <- struct{}{} // a fence holds the PDU
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.ReadStatus(ctx); err == nil {
		t.Fatal("the status read did not wait for the slot")
	}
	<-slot
	if st, err := m.ReadStatus(context.Background()); err != nil || st != StatusOff {
		t.Fatalf("with the slot free: %v, %v", st, err)
	}
}

type statusOnly struct{}

func (statusOnly) Off(context.Context) (Proof, error)     { return Proof{}, nil }
func (statusOnly) On(context.Context) error               { return nil }
func (statusOnly) Status(context.Context) (Status, error) { return StatusOff, nil }
