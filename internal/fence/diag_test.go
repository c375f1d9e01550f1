package fence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// diagDevice is a scriptedDevice that can send an NMI; each Diag pops the
// next error of its script.
type diagDevice struct {
	scriptedDevice
	diagErrs []error
}

func (d *diagDevice) Diag(ctx context.Context) (string, error) {
	*d.calls = append(*d.calls, d.name+".diag")
	var err error
	if len(d.diagErrs) > 0 {
		err, d.diagErrs = d.diagErrs[0], d.diagErrs[1:]
	}
	if err != nil {
		return "", err
	}
	return "NMI accepted", nil
}

func TestTopologyDiag(t *testing.T) {
	lost := errors.New("reply lost")
	tests := []struct {
		name       string
		levels     [][]string         // "name" or "name:diag" for a Diagnoser
		errs       map[string][]error // per Diagnoser, errors of successive Diag calls
		wantErr    error              // nil: sent
		wantCalls  []string
		wantInText []string // in the result or the error
	}{
		{name: "first device that can",
			levels:    [][]string{{"pdu"}, {"ipmi:diag"}, {"redfish:diag"}},
			wantCalls: []string{"ipmi.diag"}, wantInText: []string{"level 2 ipmi (ipmi-driver): NMI accepted"}},
		{name: "a BMC that cannot falls through",
			levels:    [][]string{{"ipmi:diag", "ceph"}, {"redfish:diag"}},
			errs:      map[string][]error{"ipmi": {ErrDiagUnsupported}},
			wantCalls: []string{"ipmi.diag", "redfish.diag"}, wantInText: []string{"level 2 redfish"}},
		{name: "a rejected login falls through: nothing was sent",
			levels:    [][]string{{"ipmi:diag"}, {"redfish:diag"}},
			errs:      map[string][]error{"ipmi": {ErrAuth}},
			wantCalls: []string{"ipmi.diag", "redfish.diag"}},
		{name: "a failure that may have delivered stops, and is not retried",
			levels:    [][]string{{"ipmi:diag"}, {"redfish:diag"}},
			errs:      map[string][]error{"ipmi": {lost, nil}},
			wantErr:   lost,
			wantCalls: []string{"ipmi.diag"}, wantInText: []string{"may have reached the host"}},
		{name: "no device can: every one named with its driver",
			levels:  [][]string{{"pdu"}, {"ceph"}},
			wantErr: ErrDiagUnsupported,
			wantInText: []string{"level 1 pdu (pdu-driver): the driver has no diag action",
				"level 2 ceph (ceph-driver): the driver has no diag action"}},
		{name: "none that can succeeds",
			levels:     [][]string{{"ipmi:diag"}, {"pdu"}},
			errs:       map[string][]error{"ipmi": {ErrDiagUnsupported}},
			wantErr:    ErrDiagUnsupported,
			wantCalls:  []string{"ipmi.diag"},
			wantInText: []string{"level 1 ipmi (ipmi-driver)", "level 2 pdu (pdu-driver): the driver has no diag action"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			topo := Topology{Host: "cmp1", Backoff: time.Millisecond}
			for _, level := range tt.levels {
				var ms []Member
				for _, spec := range level {
					name, diag := strings.CutSuffix(spec, ":diag")
					var dev Device = &scriptedDevice{name: name, calls: &calls}
					if diag {
						dev = &diagDevice{scriptedDevice: scriptedDevice{name: name, calls: &calls}, diagErrs: tt.errs[name]}
					}
					ms = append(ms, Member{Name: name, Driver: name + "-driver", Device: dev, Retries: 2})
				}
				topo.Levels = append(topo.Levels, ms)
			}
			var steps []Step
			got, err := topo.Diag(context.Background(), func(s Step) { steps = append(steps, s) })
			text := got
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Diag = %q, %v; want %v", got, err, tt.wantErr)
				}
				text = err.Error()
			} else if err != nil {
				t.Fatalf("Diag = %v", err)
			}
			for _, want := range tt.wantInText {
				if !strings.Contains(text, want) {
					t.Errorf("%q does not say %q", text, want)
				}
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if len(steps) != len(calls) {
				t.Errorf("reported %d steps for %d calls", len(steps), len(calls))
			}
			for _, s := range steps {
				if s.Op != "diag" {
					t.Errorf("step op %q, want diag", s.Op)
				}
			}
		})
	}
}

// rightDevice answers the health check with a Right.
type rightDevice struct {
	scriptedDevice
	right Right
	err   error
}

func (d *rightDevice) CheckRight(ctx context.Context) (Status, Right, error) {
	*d.calls = append(*d.calls, d.name+".right")
	return StatusOn, d.right, d.err
}

// The health check asks a RightChecker for the right to fence instead of
// the bare status, and carries what it learned; other devices keep their
// status call and no Right.
func TestTopologyCheckCarriesTheRightToFence(t *testing.T) {
	var calls []string
	proven := Right{Proven: true, Detail: "role Operator grants ConfigureComponents"}
	topo := Topology{Host: "cmp1", Levels: [][]Member{
		{{Name: "redfish", Device: &rightDevice{scriptedDevice: scriptedDevice{name: "redfish", calls: &calls}, right: proven}}},
		{{Name: "readonly", Device: &rightDevice{scriptedDevice: scriptedDevice{name: "readonly", calls: &calls},
			err: ErrRefused}}},
		{{Name: "ipmi", Device: &scriptedDevice{name: "ipmi", calls: &calls, status: StatusOn}}},
	}}
	hs := topo.Check(context.Background())
	if diff := cmp.Diff([]string{"redfish.right", "readonly.right", "ipmi.status"}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if len(hs) != 3 {
		t.Fatalf("health = %+v", hs)
	}
	if hs[0].Err != nil || hs[0].Right == nil || *hs[0].Right != proven {
		t.Errorf("redfish health = %+v, want no error and the proven right", hs[0])
	}
	if !errors.Is(hs[1].Err, ErrRefused) || hs[1].Right != nil {
		t.Errorf("readonly health = %+v, want ErrRefused and no right", hs[1])
	}
	if hs[2].Err != nil || hs[2].Right != nil || hs[2].Status != StatusOn {
		t.Errorf("ipmi health = %+v, want on and no right", hs[2])
	}
}
