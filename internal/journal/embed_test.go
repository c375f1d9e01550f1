package journal

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// The embedded etcd is a real etcd server in the test's process: a leader
// is elected on it, writes, and after a restart of the controller (the
// embedded etcd stopped and started again on the same directory) the next
// leader reads what the first wrote, with a higher fencing token.
func TestEmbeddedEtcdKeepsTheJournalAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := New(e.Client, "/vigil/", 2)
	t1, err := j.Campaign(ctx, "ctl-1")
	if err != nil {
		t.Fatal(err)
	}
	rec := decision.Record{Host: "cmp1", Phase: decision.Fencing, Opened: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Term: t1}
	if err := j.Write([]decision.Record{rec}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e, err = StartEmbedded(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	j = New(e.Client, "/vigil/", 2)
	t2, err := j.Campaign(ctx, "ctl-1")
	if err != nil {
		t.Fatal(err)
	}
	if t2 <= t1 {
		t.Errorf("token after the restart %d, want above %d", t2, t1)
	}
	recs, _, err := j.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Host != "cmp1" || recs[0].Phase != decision.Fencing {
		t.Errorf("records after the restart = %+v, want cmp1 fencing", recs)
	}
}

// A data directory whose socket path is too long for a unix socket is
// refused with the fix, before etcd starts.
func TestEmbeddedEtcdRefusesALongDataDir(t *testing.T) {
	long := t.TempDir() + "/" + string(make([]byte, 0)) + "a-data-directory-name-that-is-far-too-long-for-a-unix-socket-path-to-hold-it-all"
	if _, err := StartEmbedded(context.Background(), long, nil); err == nil {
		t.Fatal("a data_dir too long for its socket was accepted")
	}
}
