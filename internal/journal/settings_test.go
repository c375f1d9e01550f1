package journal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// An operator's maintenance setting is kept in etcd: the next leader finds
// it; a deposed leader's write of one is refused and changes nothing.
func TestMaintenanceOutlivesTheLeader(t *testing.T) {
	s := startEtcd(t)
	a, b := member(t, s), member(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.Campaign(ctx, "ctl-a"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cmp1", "cmp2"} {
		if err := a.SetMaintenance(h, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetMaintenance("cmp2", false); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)
	if err := a.SetPause(decision.SetPause{On: true, By: "alice", Reason: "switch upgrade", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPause(decision.SetPause{On: true, By: "bob", Reason: "again", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Campaign(ctx, "ctl-b"); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Pause(); err != nil || p == nil || p.By != "alice" || !p.At.Equal(at) || !p.On {
		t.Fatalf("the next leader's pause: %+v, %v; want alice's, kept as it was", p, err)
	}
	if err := b.SetPause(decision.SetPause{}); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Pause(); err != nil || p != nil {
		t.Fatalf("after resume: %+v, %v; want none", p, err)
	}
	m, err := b.Maintenance()
	if err != nil || len(m) != 1 || !m["cmp1"] {
		t.Fatalf("the next leader reads %v, %v; want cmp1 alone in maintenance", m, err)
	}
	if err := a.SetMaintenance("cmp3", true); !errors.Is(err, ErrDeposed) {
		t.Fatalf("the deposed leader's write: %v, want ErrDeposed", err)
	}
	if m, _ := b.Maintenance(); m["cmp3"] {
		t.Fatal("the deposed leader's setting was written")
	}
}

// The history is kept in order, read newest-first-limited and returned
// oldest first, and pruned to the newest batches.
func TestHistoryKeepsTheNewest(t *testing.T) {
	s := startEtcd(t)
	a := member(t, s)
	ctx := context.Background()
	for _, b := range []string{"1", "2", "3", "4", "5"} {
		if err := a.AppendHistory(ctx, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.History(ctx, 3)
	if err != nil || len(got) != 3 || string(got[0]) != "3" || string(got[2]) != "5" {
		t.Fatalf("History(3) = %q, %v; want 3 4 5", got, err)
	}
	if err := a.PruneHistory(ctx, 2); err != nil {
		t.Fatal(err)
	}
	got, _ = a.History(ctx, 10)
	if len(got) != 2 || string(got[0]) != "4" || string(got[1]) != "5" {
		t.Fatalf("after PruneHistory(2): %q; want 4 5", got)
	}
}
