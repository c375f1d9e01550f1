package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/executor"
	"github.com/vigil-ha/vigil/internal/fence"
)

// backend is what the operators' API asks of this controller (api.Backend).
type backend struct {
	name   string
	r      *controller.Runner
	events *Events
	reg    *prometheus.Registry
	cfg    config.Config // names the fence levels of a plan
}

func (b *backend) Status(ctx context.Context) ([]decision.HostStatus, error) { return b.r.Status(ctx) }

func (b *backend) Events(host string, n int) []api.Event { return b.events.Last(host, n) }

// Plan is the leader's plan for host (vigil plan) with its fence levels
// named from the configuration.
func (b *backend) Plan(ctx context.Context, host string) (decision.Plan, error) {
	p, err := b.r.Plan(ctx, host)
	if err != nil {
		return p, err
	}
	nameLevels(b.cfg, &p)
	return p, nil
}

// nameLevels names each fence level of p from cfg: its method as the
// executor reports it to the engine, and its devices as vigil fence
// --dry-run lists them (no secret is read).
func nameLevels(cfg config.Config, p *decision.Plan) {
	levels, err := cfg.Levels(p.Host)
	if err != nil {
		return // every host's topology was built when the controller started
	}
	for i := range p.Fence {
		if i >= len(levels) {
			break
		}
		ms := make([]fence.Member, len(levels[i]))
		p.Fence[i].Devices = nil
		for j, d := range levels[i] {
			ms[j] = fence.Member{Driver: d.Driver, Power: d.IsPowerFence(), Storage: d.IsStorageFence()}
			p.Fence[i].Devices = append(p.Fence[i].Devices, d.String())
		}
		p.Fence[i].Method = executor.LevelMethod(ms)
	}
}

func (b *backend) Leader() api.Leader { return api.Leader{Self: b.name, Leading: b.r.Leading()} }

// Submit hands an operator's command to the loop and waits until it was
// stepped: a member that does not lead refuses it, and a maintenance
// setting the store did not keep is refused too (a successor would not
// know it).
func (b *backend) Submit(ctx context.Context, in decision.Input, ev api.Event) error {
	if err := b.r.Do(ctx, in); err != nil {
		return err
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	b.events.Add(ev)
	return nil
}

// apiHandler is the operators' API with the token files, and /metrics for
// readers.
func apiHandler(a config.API, opts Options, b *backend, log *slog.Logger) (http.Handler, error) {
	var toks api.Tokens
	if a.ReaderTokens != "" || a.OperatorTokens != "" {
		var err error
		if toks, err = api.LoadTokens(opts.ReadFile, a.ReaderTokens, a.OperatorTokens); err != nil {
			return nil, errors.Join(errors.New("controller.api: reader_tokens, operator_tokens"), err)
		}
	} else {
		log.Warn("controller.api has no token files: the API answers /healthz only")
	}
	mux := http.NewServeMux()
	mux.Handle("/", api.Handler(b, toks, log.With("part", "api")))
	if b.reg != nil {
		mux.Handle("GET /metrics", api.Protect(toks, api.Reader, promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}), log.With("part", "api")))
	}
	return mux, nil
}
