package pool

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// logWriter turns memberlist's log lines ("[LEVEL] memberlist: text") into
// slog records, at most a few a second: a flood of forged packets, each
// refused with a line, must not flood the agent's log.
type logWriter struct {
	log *slog.Logger

	// mu guards the limit.
	mu         sync.Mutex
	tokens     float64
	at         time.Time
	suppressed int
}

const (
	logBurst  = 20
	logPerSec = 5
)

func newLogWriter(l *slog.Logger) *logWriter {
	return &logWriter{log: l, tokens: logBurst}
}

func (w *logWriter) Write(b []byte) (int, error) {
	line := string(bytes.TrimSpace(b))
	level := slog.LevelDebug
	for _, l := range []struct {
		tag   string
		level slog.Level
	}{{"[ERR] ", slog.LevelWarn}, {"[WARN] ", slog.LevelWarn}, {"[INFO] ", slog.LevelInfo}, {"[DEBUG] ", slog.LevelDebug}} {
		if rest, ok := strings.CutPrefix(line, l.tag); ok {
			line, level = rest, l.level
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.mu.Lock()
	now := time.Now()
	if !w.at.IsZero() {
		w.tokens = min(logBurst, w.tokens+logPerSec*now.Sub(w.at).Seconds())
	}
	w.at = now
	if w.tokens < 1 {
		w.suppressed++
		w.mu.Unlock()
		return len(b), nil
	}
	w.tokens--
	suppressed := w.suppressed
	w.suppressed = 0
	w.mu.Unlock()
	if suppressed > 0 {
		w.log.Warn("memberlist lines suppressed", "count", suppressed)
	}
	w.log.Log(context.Background(), level, "memberlist", "line", line)
	return len(b), nil
}
