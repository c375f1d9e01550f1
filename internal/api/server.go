package api

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// NewServer returns an HTTP server for h on addr, with TLS when conf is not
// nil (serve it with ListenAndServeTLS("", "")), and timeouts that keep a
// slow or idle client from holding a connection: the API's answers are
// small and its calls short.
func NewServer(addr string, h http.Handler, conf *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         conf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      backendTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
