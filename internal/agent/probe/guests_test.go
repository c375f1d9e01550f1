package probe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormatUUID(t *testing.T) {
	u := [16]byte{0x5f, 0x3e, 0x7c, 0x1a, 0x11, 0x11, 0x42, 0x22, 0x83, 0x33, 0x94, 0x44, 0x45, 0x55, 0x56, 0x66}
	if got, want := formatUUID(u), "5f3e7c1a-1111-4222-8333-944445555666"; got != want {
		t.Fatalf("formatUUID = %s, want %s", got, want)
	}
	if !isUUID(formatUUID(u)) {
		t.Fatal("not a canonical UUID")
	}
}

func TestGuestSetApply(t *testing.T) {
	a := Guest{UUID: "aaaaaaaa-0000-4000-8000-000000000001", Name: "instance-00000001"}
	b := Guest{UUID: "bbbbbbbb-0000-4000-8000-000000000002", Name: "instance-00000002"}
	ev := func(g Guest, e Lifecycle, detail int32) GuestEvent {
		return GuestEvent{Guest: g, Event: e, Detail: detail}
	}
	for _, tc := range []struct {
		name    string
		list    []Guest // the list taken when the subscription began
		events  []GuestEvent
		changed []bool
		want    []string
	}{
		{"started and stopped", nil,
			[]GuestEvent{ev(a, Started, 0), ev(b, Started, 0), ev(a, Stopped, StoppedDestroyed)},
			[]bool{true, true, true}, []string{b.UUID}},
		{"QEMU killed: stopped, failed", []Guest{a},
			[]GuestEvent{ev(a, Stopped, StoppedFailed)}, []bool{true}, []string{}},
		{"paused and resumed: active all along", []Guest{a},
			[]GuestEvent{ev(a, Suspended, 0), ev(a, Resumed, 0)}, []bool{false, false}, []string{a.UUID}},
		{"crashed but preserved: QEMU still holds the disks", []Guest{a},
			[]GuestEvent{ev(a, Crashed, 0)}, []bool{false}, []string{a.UUID}},
		{"crashed, then destroyed by its on_crash action", []Guest{a},
			[]GuestEvent{ev(a, Crashed, 0), ev(a, Stopped, StoppedCrashed)}, []bool{false, true}, []string{}},
		{"undefined while running: it runs on as a transient domain", []Guest{a},
			[]GuestEvent{ev(a, Undefined, 0)}, []bool{false}, []string{a.UUID}},
		{"defined but not started", nil,
			[]GuestEvent{ev(a, Defined, 0)}, []bool{false}, []string{}},
		{"an event queued before the list: the later stop wins", []Guest{a},
			[]GuestEvent{ev(a, Started, 0), ev(a, Stopped, StoppedShutdown)}, []bool{false, true}, []string{}},
		{"guest shut down: still running until QEMU exits", []Guest{a},
			[]GuestEvent{ev(a, Shutdown, 0)}, []bool{false}, []string{a.UUID}},
		{"a resume of a guest the list missed adds it", nil,
			[]GuestEvent{ev(b, Resumed, 0)}, []bool{true}, []string{b.UUID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newGuestSet(tc.list)
			var changed []bool
			for _, e := range tc.events {
				changed = append(changed, s.apply(e))
			}
			if d := cmp.Diff(tc.changed, changed); d != "" {
				t.Errorf("changed (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.want, s.uuids()); d != "" {
				t.Errorf("active guests (-want +got):\n%s", d)
			}
		})
	}
}

func TestLifecycleString(t *testing.T) {
	if Stopped.String() != "stopped" || Lifecycle(42).String() != "lifecycle(42)" {
		t.Fatalf("names: %s, %s", Stopped, Lifecycle(42))
	}
}
