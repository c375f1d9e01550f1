package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// backend is what the operators' API asks of this controller.
type backend struct {
	name   string
	r      *controller.Runner
	events *Events
	reg    *prometheus.Registry
}

func (b *backend) Status(ctx context.Context) ([]decision.HostStatus, error) { return b.r.Status(ctx) }

func (b *backend) Submit(ctx context.Context, in decision.Input) error {
	if !b.r.Leading() {
		return controller.ErrNotLeading
	}
	b.r.Submit(in)
	return nil
}

// apiHandler serves the operators' API (internal/api) with the token files.
func apiHandler(a config.API, opts Options, b *backend, log *slog.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "leading": b.r.Leading(), "self": b.name})
	})
	if b.reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	}
	return mux, nil
}
