package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/journal"
)

// historyBatches is how many batches of events the store keeps (a batch
// is what one leader noted in about a second; an incident is tens).
const historyBatches = 5000

// keepHistory writes the events the leader notes to the store, once a
// second, and loads the store's history each time this controller begins
// to lead, so vigil explain on a new leader shows what its predecessors
// decided. A follower writes nothing (its alerts are its own log's).
func keepHistory(ctx context.Context, j *journal.Journal, ev *Events, r *controller.Runner, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	leading, n := false, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.Leading()
		if now && !leading {
			loadHistory(ctx, j, ev, log)
		}
		leading = now
		batch := ev.Flush()
		if !leading || len(batch) == 0 {
			continue
		}
		b, err := json.Marshal(batch)
		if err == nil {
			err = j.AppendHistory(ctx, b)
		}
		if err != nil {
			log.Warn("history not written to the store (a new leader will not show it)", "events", len(batch), "err", err)
			continue
		}
		if n++; n%100 == 0 {
			if err := j.PruneHistory(ctx, historyBatches); err != nil {
				log.Warn("history not pruned", "err", err)
			}
		}
	}
}

func loadHistory(ctx context.Context, j *journal.Journal, ev *Events, log *slog.Logger) {
	batches, err := j.History(ctx, historyBatches)
	if err != nil {
		log.Warn("history not read from the store: vigil history shows this controller's own only", "err", err)
		return
	}
	var all []api.Event
	for _, b := range batches {
		var evs []api.Event
		if err := json.Unmarshal(b, &evs); err != nil {
			log.Warn("a history batch in the store is unreadable: skipped", "err", err)
			continue
		}
		all = append(all, evs...)
	}
	ev.Load(all)
}
