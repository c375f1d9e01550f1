package journal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/testbed/etcd"
	"github.com/vigil-ha/vigil/internal/testbed/tier"
)

func startEtcd(t *testing.T) *etcd.Server {
	t.Helper()
	tier.Integration(t, "etcd")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := etcd.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func member(t *testing.T, s *etcd.Server) *Journal {
	t.Helper()
	cli, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return New(cli, "/vigil-test/", 2)
}

// Against Debian's etcd: one member leads; its lease lapses (as a leader
// stalled past its TTL, or cut off from etcd, loses it); the standby is
// elected with a higher fencing token and reads what the first wrote; the
// deposed member's next write is refused and writes nothing.
func TestDeposedLeaderWriteRefused(t *testing.T) {
	s := startEtcd(t)
	a, b := member(t, s), member(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ta, err := a.Campaign(ctx, "ctl-a")
	if err != nil {
		t.Fatal(err)
	}
	rec := decision.Record{Host: "cmp1", Phase: decision.Fencing, Opened: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Term: ta}
	if err := a.Write([]decision.Record{rec}, []decision.Action{{Kind: decision.ActFence, Host: "cmp1", Level: 1}}); err != nil {
		t.Fatal(err)
	}
	elected := make(chan uint64, 1)
	go func() {
		tb, err := b.Campaign(ctx, "ctl-b")
		if err != nil {
			t.Error(err)
		}
		elected <- tb
	}()
	select {
	case <-elected:
		t.Fatal("a standby was elected while the leader holds its lease")
	case <-time.After(500 * time.Millisecond):
	}
	// a's lease ends at etcd: what a TTL running out does.
	if _, err := b.cli.Revoke(ctx, a.sess.Lease()); err != nil {
		t.Fatal(err)
	}
	var tb uint64
	select {
	case tb = <-elected:
	case <-ctx.Done():
		t.Fatal("the standby was not elected after the leader's lease ended")
	}
	if tb <= ta {
		t.Fatalf("the new term's token %d is not above the old one's %d", tb, ta)
	}
	select {
	case <-a.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the deposed member was not told its lease is gone")
	}
	late := decision.Record{Host: "cmp1", Phase: decision.Recovering, Term: ta}
	if err := a.Write([]decision.Record{late}, nil); !errors.Is(err, ErrDeposed) {
		t.Fatalf("the deposed leader's write: %v, want ErrDeposed", err)
	}
	recs, restoredAt, err := b.Records()
	if err != nil || restoredAt != 0 {
		t.Fatalf("records: %v, marker %d", err, restoredAt)
	}
	if len(recs) != 1 || recs[0].Phase != decision.Fencing {
		t.Fatalf("the new leader reads %+v, want only the first leader's committed record", recs)
	}
}

// The control loop on etcd: a leader's Ready is journaled in guarded
// transactions, split at etcd's 128-operation limit (a mass boot writes a
// record for every host in one Ready), and a successor restores it all.
func TestLoopOnEtcdSplitsLargeWrites(t *testing.T) {
	s := startEtcd(t)
	a, b := member(t, s), member(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var hosts []decision.HostInfo
	var recs []decision.Record
	for i := 0; i < 300; i++ {
		name := "cmp" + string(rune('a'+i/26/26%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
		hosts = append(hosts, decision.HostInfo{Name: name})
		recs = append(recs, decision.Record{Host: name, Failed: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	if _, err := a.Campaign(ctx, "ctl-a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(recs, nil); err != nil {
		t.Fatalf("a write of %d records: %v", len(recs), err)
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := b.Campaign(ctx, "ctl-b")
	if err != nil {
		t.Fatal(err)
	}
	l := controller.New(func() controller.Policy {
		e, err := decision.New(decision.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, hosts, b)
	n, err := l.Lead(time.Now(), tok)
	if err != nil || n != len(recs) {
		t.Fatalf("the successor restored %d records (%v), want %d", n, err, len(recs))
	}
}

// The restore procedure marks the store; the marker is the store's revision
// then, above every record's term, and every later leader reads it with the
// records.
func TestMarkRestored(t *testing.T) {
	s := startEtcd(t)
	a := member(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := a.Campaign(ctx, "ctl-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write([]decision.Record{{Host: "cmp1", Phase: decision.Fencing, Term: tok, WatchdogBoot: "b1"}}, nil); err != nil {
		t.Fatal(err)
	}
	at, err := a.MarkRestored(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, restoredAt, err := a.Records()
	if err != nil || restoredAt != at || at < tok || len(recs) != 1 {
		t.Fatalf("records %v, marker %d (%v), want the marker %d, at least the term %d", recs, restoredAt, err, at, tok)
	}
}
