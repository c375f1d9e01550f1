package fencetest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// NeverShows fails tb when any way of printing or logging v (%v, %+v, %#v,
// %s, slog) shows one of secrets, or loses one of keep (what an operator
// needs to see, e.g. the BMC address).
func NeverShows(tb testing.TB, v any, secrets, keep []string) {
	tb.Helper()
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", v)
	forms := map[string]string{
		"%v":   fmt.Sprintf("%v", v),
		"%+v":  fmt.Sprintf("%+v", v),
		"%#v":  fmt.Sprintf("%#v", v),
		"%s":   fmt.Sprint(v),
		"slog": logged.String(),
	}
	for how, out := range forms {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				tb.Errorf("%s shows a secret: %s", how, out)
			}
		}
		for _, k := range keep {
			if !strings.Contains(out, k) {
				tb.Errorf("%s lost %q: %s", how, k, out)
			}
		}
	}
}
