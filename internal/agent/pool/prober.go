package pool

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Sender carries one network's peer reports to the controllers (the
// uplink: sealed with the host's own key, to every controller on that
// network).
type Sender interface {
	Peers(ctx context.Context, network string, reps []decision.PeerReport) error
}

// Prober runs the pools: every interval each pool's Round, whose reports
// go to the Sender at once (a report is never older than PingTimeout), and
// every pool's Rejoin from the start and then every RejoinEvery. A pool
// that fails, or panics, is logged and tried again next round: the agent's
// own reports run elsewhere and never wait on a pool.
type Prober struct {
	pools []*Pool
	send  Sender
	every time.Duration
	log   *slog.Logger
}

// NewProber runs pools every interval, sending through send.
func NewProber(pools []*Pool, send Sender, every time.Duration, log *slog.Logger) *Prober {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{pools: pools, send: send, every: every, log: log}
}

// Run runs the rounds until ctx ends, then waits for the last ones.
func (pr *Prober) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	joining := make([]chan struct{}, len(pr.pools)) // closed when that pool's Rejoin is done
	lastJoin := make([]time.Time, len(pr.pools))
	busy := make([]chan struct{}, len(pr.pools)) // closed when that pool's round is done
	tick := time.NewTicker(pr.every)
	defer tick.Stop()
	for {
		now := time.Now()
		for i, p := range pr.pools {
			if done(joining[i]) && now.Sub(lastJoin[i]) >= p.cfg.RejoinEvery {
				joining[i], lastJoin[i] = make(chan struct{}), now
				wg.Add(1)
				go func(ch chan struct{}) {
					defer wg.Done()
					defer close(ch)
					pr.guard(p, "pool rejoin failed", func() error {
						n, err := p.Rejoin()
						switch {
						case n > 0:
							p.log.Debug("pool joined", "members", n)
						case err != nil && len(p.Members()) <= 1:
							return err // alone in the pool: say so
						}
						return nil
					})
				}(joining[i])
			}
			if !done(busy[i]) {
				p.log.Warn("pool round still running: skipped this interval")
				continue
			}
			busy[i] = make(chan struct{})
			wg.Add(1)
			go func(ch chan struct{}) {
				defer wg.Done()
				defer close(ch)
				pr.guard(p, "pool round failed", func() error {
					reps := p.Round()
					if len(reps) == 0 {
						return nil
					}
					if err := pr.send.Peers(ctx, p.cfg.Network, reps); err != nil {
						p.log.Debug("peer reports not sent", "err", err) // the network's business, as the agent's reports
					}
					return nil
				})
			}(busy[i])
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// guard runs f, logging its error or panic as msg: a pool's fault never
// ends the agent.
func (pr *Prober) guard(p *Pool, msg string, f func() error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error(msg, "err", fmt.Sprint(r))
		}
	}()
	if err := f(); err != nil {
		p.log.Warn(msg, "err", err)
	}
}

// done reports whether ch is nil or closed.
func done(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
