package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/controller"
	"github.com/vigil-ha/vigil/internal/decision"
)

// backendTimeout bounds a wait for the controller's loop.
const backendTimeout = 10 * time.Second

// maxHistory caps GET /v1/history?n=.
const maxHistory = 10000

type handler struct {
	b   Backend
	t   Tokens
	log *slog.Logger
}

// Handler serves the API of b to the holders of t's tokens (docs/api.md).
// It logs every operator's call, with who made it and what it asked, and
// every refused token.
func Handler(b Backend, t Tokens, log *slog.Logger) http.Handler {
	h := &handler{b: b, t: t, log: log}
	mux := http.NewServeMux()
	route := func(method, path string, fn http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, fn)
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			h.fail(w, http.StatusMethodNotAllowed, CodeMethod, fmt.Sprintf("%s takes %s only", path, method))
		})
	}
	route("GET", "/healthz", h.health)
	route("GET", "/v1/status", h.reader(h.status))
	route("GET", "/v1/hosts/{host}", h.reader(h.host))
	route("GET", "/v1/hosts/{host}/plan", h.reader(h.plan))
	route("GET", "/v1/history", h.reader(h.history))
	route("POST", "/v1/hosts/{host}/maintenance", h.operator("maintenance", h.maintenance))
	route("POST", "/v1/hosts/{host}/confirm", h.operator("confirm", h.confirm))
	route("POST", "/v1/hosts/{host}/release", h.operator("release", h.release))
	route("POST", "/v1/hosts/{host}/rejoin", h.operator("rejoin", h.rejoin))
	route("POST", "/v1/pause", h.operator("pause", h.pause))
	route("POST", "/v1/resume", h.operator("resume", h.resume))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no endpoint %s (docs/api.md lists them)", r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to tell it
}

func (h *handler) fail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg, Code: code})
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	l := h.b.Leader()
	writeJSON(w, http.StatusOK, Health{OK: true, Leading: l.Leading, Self: l.Self})
}

// authenticate admits a request whose bearer token has at least role need,
// and answers it otherwise.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request, need Role) (caller, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		h.fail(w, http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required (Authorization: Bearer TOKEN; the CLI reads it from --token-file)")
		return caller{}, false
	}
	c, ok := h.t.lookup(token)
	if !ok {
		h.log.Warn("api token refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil", error="invalid_token"`)
		h.fail(w, http.StatusUnauthorized, CodeUnauthorized, "this controller admits no such token: check the token file, and that it is in the controller's reader or operator token file")
		return caller{}, false
	}
	if c.role < need {
		h.log.Warn("api call forbidden", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "caller", c.where, "role", c.role.String())
		h.fail(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("this call needs an operator's token; yours is a %s's (%s)", c.role, c.display()))
		return caller{}, false
	}
	return c, true
}

// display names a caller without its token.
func (c caller) display() string {
	if c.name != "" {
		return c.name
	}
	return "token on " + c.where
}

// by is who an operator's command is by when the request does not say.
func (c caller) by() string {
	if c.name != "" {
		return c.name
	}
	return "operator"
}

func (h *handler) reader(fn func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.authenticate(w, r, Reader); ok {
			fn(w, r)
		}
	}
}

// apiError is an answer that is not a success.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func (h *handler) send(w http.ResponseWriter, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{http.StatusInternalServerError, CodeInternal, "internal error: see the controller's log"}
	}
	h.fail(w, e.status, e.code, e.msg)
}

// backendError turns the backend's error into the answer.
func (h *handler) backendError(err error) *apiError {
	switch {
	case errors.Is(err, controller.ErrNotLeading):
		return &apiError{http.StatusServiceUnavailable, CodeNotLeading,
			fmt.Sprintf("controller %s does not lead: ask another controller (the one whose /healthz says \"leading\": true)", h.b.Leader().Self)}
	case errors.Is(err, controller.ErrNotKept):
		return &apiError{http.StatusServiceUnavailable, CodeUnavailable,
			"the controller could not write the setting to its store (etcd), so it is not in force: try again; if it keeps failing, check etcd"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &apiError{http.StatusServiceUnavailable, CodeUnavailable,
			fmt.Sprintf("the controller's loop did not answer within %v: try again, or ask another controller", backendTimeout)}
	}
	h.log.Error("api backend failed", "err", err)
	return &apiError{http.StatusInternalServerError, CodeInternal, "internal error: see the controller's log"}
}

// lookup returns the status of every host, and of host when it is not "".
func (h *handler) lookup(r *http.Request, host string) ([]decision.HostStatus, *decision.HostStatus, error) {
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	st, err := h.b.Status(ctx)
	if err != nil {
		return nil, nil, h.backendError(err)
	}
	if host == "" {
		return st, nil, nil
	}
	for i := range st {
		if st[i].Name == host {
			return st, &st[i], nil
		}
	}
	return nil, nil, unknownHost(host)
}

func unknownHost(host string) *apiError {
	return &apiError{http.StatusNotFound, CodeUnknownHost, fmt.Sprintf("no host %q in this controller's configuration (vigil status lists them)", host)}
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, _, err := h.lookup(r, "")
	if err != nil {
		h.send(w, err)
		return
	}
	out := Status{At: time.Now(), Self: h.b.Leader().Self, Hosts: make([]HostStatus, len(st))}
	for i, s := range st {
		out.Hosts[i] = FromDecision(s)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) host(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("host")
	_, s, err := h.lookup(r, name)
	if err != nil {
		h.send(w, err)
		return
	}
	writeJSON(w, http.StatusOK, HostDetail{At: time.Now(), Self: h.b.Leader().Self, Host: FromDecision(*s), Events: events(h.b.Events(name, HostEvents))})
}

// plan is vigil plan: what the leader would do if the host failed now.
func (h *handler) plan(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("host")
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	p, err := h.b.Plan(ctx, name)
	switch {
	case errors.Is(err, decision.ErrUnknownHost):
		h.send(w, unknownHost(name))
	case err != nil:
		h.send(w, h.backendError(err))
	default:
		writeJSON(w, http.StatusOK, FromPlan(p, h.b.Leader().Self))
	}
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "host" && k != "n" {
			h.send(w, &apiError{http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("unknown query parameter %q: history takes host and n", k)})
			return
		}
	}
	n := HostEvents
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxHistory {
			h.send(w, &apiError{http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("parameter \"n\": want a number of events from 1 to %d", maxHistory)})
			return
		}
		n = v
	}
	host := q.Get("host")
	if _, _, err := h.lookup(r, host); err != nil {
		h.send(w, err)
		return
	}
	writeJSON(w, http.StatusOK, History{At: time.Now(), Self: h.b.Leader().Self, Events: events(h.b.Events(host, n))})
}

// events never answers null for no events.
func events(ev []Event) []Event {
	if ev == nil {
		return []Event{}
	}
	return ev
}

// A command turns an operator's request about host into the engine's input
// and the event that records it.
type command func(body io.Reader, host string, c caller) (decision.Input, Event, error)

// operator serves an operator's command: it checks the token, the body and
// the host, hands the input to the backend, and logs the call whatever
// comes of it.
func (h *handler) operator(call string, cmd command) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.authenticate(w, r, Operator)
		if !ok {
			return
		}
		host := r.PathValue("host")
		in, ev, err := cmd(http.MaxBytesReader(w, r.Body, MaxBody), host, c)
		if err == nil {
			_, _, err = h.lookup(r, host)
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
			if serr := h.b.Submit(ctx, in, ev); serr != nil {
				err = h.backendError(serr)
			}
			cancel()
		}
		attrs := []any{"call", call, "host", host, "by", ev.By, "caller", c.where, "remote", r.RemoteAddr, "action", ev.Action, "reason", ev.Reason}
		if err != nil {
			e := requestError(err)
			h.log.Warn("operator call refused", append(attrs, "status", e.status, "err", e.msg)...)
			h.send(w, e)
			return
		}
		h.log.Info("operator call", append(attrs, "status", http.StatusAccepted)...)
		note := fmt.Sprintf("the controller's engine applies it at its next tick; vigil explain %s shows what it did", host)
		if host == "" {
			note = "the controller's engine applies it at its next tick; vigil status shows the hosts it holds"
		}
		writeJSON(w, http.StatusAccepted, Accepted{Host: host, Call: ev.Action, By: ev.By, Note: note})
	}
}

// requestError is the answer to a failed command.
func requestError(err error) *apiError {
	var e *apiError
	var tooBig *http.MaxBytesError
	var body *bodyError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &tooBig):
		return &apiError{http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is over %d bytes", MaxBody)}
	case errors.As(err, &body):
		return &apiError{http.StatusBadRequest, CodeBadRequest, body.Error()}
	}
	return &apiError{http.StatusInternalServerError, CodeInternal, "internal error: see the controller's log"}
}

func operatorEvent(host, action, by, reason string) Event {
	return Event{At: time.Now(), Host: host, Kind: KindOperator, Action: action, By: by, Reason: reason}
}

func (h *handler) maintenance(body io.Reader, host string, c caller) (decision.Input, Event, error) {
	m, err := decodeMaintenance(body)
	if err != nil {
		return nil, Event{By: c.by()}, err
	}
	action := "maintenance off"
	if m.On {
		action = "maintenance on"
	}
	return decision.SetMaintenance{Host: host, On: m.On}, operatorEvent(host, action, c.by(), m.Reason), nil
}

func (h *handler) confirm(body io.Reader, host string, c caller) (decision.Input, Event, error) {
	m, err := decodeConfirm(body)
	if err != nil {
		return nil, Event{By: c.by()}, err
	}
	by := m.By
	if by == "" {
		by = c.by()
	}
	return decision.Confirm{Host: host, By: by}, operatorEvent(host, "confirm", by, m.Reason), nil
}

func (h *handler) release(body io.Reader, host string, c caller) (decision.Input, Event, error) {
	m, err := decodeRelease(body)
	if err != nil {
		return nil, Event{By: c.by()}, err
	}
	by := m.By
	if by == "" {
		by = c.by()
	}
	return decision.Release{Host: host, By: by}, operatorEvent(host, "release", by, m.Reason), nil
}

// rejoin is vigil rejoin: a reason is required (it lets a fenced host
// serve again).
func (h *handler) rejoin(body io.Reader, host string, c caller) (decision.Input, Event, error) {
	m, err := decodeRejoin(body)
	if err != nil {
		return nil, Event{By: c.by()}, err
	}
	by := m.By
	if by == "" {
		by = c.by()
	}
	return decision.Rejoin{Host: host, By: by}, operatorEvent(host, "rejoin", by, m.Reason), nil
}

// pause is vigil pause: a reason is required (others read it in every
// held host's explanation).
func (h *handler) pause(body io.Reader, _ string, c caller) (decision.Input, Event, error) {
	m, err := decodeRelease(body)
	if err == nil && m.Reason == "" {
		err = &bodyError{field: "reason", msg: "required: say why vigil is paused (it shows on every host it holds)"}
	}
	if err != nil {
		return nil, Event{By: c.by()}, err
	}
	by := m.By
	if by == "" {
		by = c.by()
	}
	return decision.SetPause{On: true, By: by, Reason: m.Reason}, operatorEvent("", "pause", by, m.Reason), nil
}

func (h *handler) resume(body io.Reader, _ string, c caller) (decision.Input, Event, error) {
	m, err := decodeRelease(body)
	if err != nil {
		return nil, Event{By: c.by()}, err
	}
	by := m.By
	if by == "" {
		by = c.by()
	}
	return decision.SetPause{On: false, By: by, Reason: m.Reason}, operatorEvent("", "resume", by, m.Reason), nil
}

// Protect serves h only to holders of a token of at least role need, with
// the API's own answers to a missing, unknown or too weak token: the
// controller's /metrics is served this way (a scraper's bearer_token_file
// holds a reader token).
func Protect(t Tokens, need Role, h http.Handler, log *slog.Logger) http.Handler {
	g := &handler{t: t, log: log}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.authenticate(w, r, need); ok {
			h.ServeHTTP(w, r)
		}
	})
}
