package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrUnreachable: the client got no answer from the controller (refused,
// timed out, TLS failed). UnreachableError is it with the URL and the cause.
var ErrUnreachable = errors.New("api: controller unreachable")

// UnreachableError is ErrUnreachable at URL, for the reason Err.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("api: controller unreachable at %s: %v", e.URL, e.Err)
}

// Unwrap makes errors.Is(err, ErrUnreachable) hold, and errors.As find the
// cause (a *tls.CertificateVerificationError, say).
func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

func unreachable(base string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // it names the method and the URL again
	}
	return &UnreachableError{URL: base, Err: err}
}

// Error is a controller's answer that is not a success.
type Error struct {
	URL     string // the request's
	Status  int    // HTTP status
	Code    string // ErrorBody.Code; "" from something else than a vigil controller
	Message string // ErrorBody.Error, or the start of the body
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Message)
}

// Client calls a controller's API.
type Client struct {
	URL   string // base URL, e.g. https://ctl1:7421
	Token string // bearer token
	HTTP  *http.Client
}

// clientTimeout bounds a call.
const clientTimeout = 30 * time.Second

// maxResponse caps an answer read (a status of 10,000 hosts is a few MB).
const maxResponse = 64 << 20

// NewClient returns a client of the controller at base (http or https),
// with tlsConf for https (nil: the system's CAs).
func NewClient(base, token string, tlsConf *tls.Config) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("api: url %q: want https://HOST:PORT (or http:// for a controller without TLS)", base)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return &Client{URL: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Transport: tr, Timeout: clientTimeout}}, nil
}

// do calls method path with body (nil: none) and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	u := c.URL + path
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("api: %s: %w", u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return unreachable(c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return unreachable(c.URL, fmt.Errorf("reading the answer: %w", err))
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{URL: u, Status: resp.StatusCode}
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			e.Code, e.Message = eb.Code, eb.Error
		} else {
			e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: %s: the answer is not the API's JSON (is this a vigil controller?): %w", u, err)
	}
	return nil
}

// Health is GET /healthz.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, http.MethodGet, "/healthz", nil, &h)
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Host is GET /v1/hosts/{host}.
func (c *Client) Host(ctx context.Context, host string) (HostDetail, error) {
	var d HostDetail
	return d, c.do(ctx, http.MethodGet, "/v1/hosts/"+url.PathEscape(host), nil, &d)
}

// Plan is GET /v1/hosts/{host}/plan.
func (c *Client) Plan(ctx context.Context, host string) (Plan, error) {
	var p Plan
	return p, c.do(ctx, http.MethodGet, "/v1/hosts/"+url.PathEscape(host)+"/plan", nil, &p)
}

// History is GET /v1/history: the last n events of host ("" every host; n
// 0 the server's default).
func (c *Client) History(ctx context.Context, host string, n int) (History, error) {
	q := url.Values{}
	if host != "" {
		q.Set("host", host)
	}
	if n > 0 {
		q.Set("n", strconv.Itoa(n))
	}
	path := "/v1/history"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var h History
	return h, c.do(ctx, http.MethodGet, path, nil, &h)
}

// Maintenance is POST /v1/hosts/{host}/maintenance.
func (c *Client) Maintenance(ctx context.Context, host string, req MaintenanceRequest) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(host)+"/maintenance", req, &a)
}

// Confirm is POST /v1/hosts/{host}/confirm.
func (c *Client) Confirm(ctx context.Context, host string, req ConfirmRequest) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(host)+"/confirm", req, &a)
}

// Rejoin is POST /v1/hosts/{host}/rejoin.
func (c *Client) Rejoin(ctx context.Context, host string, req RejoinRequest) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(host)+"/rejoin", req, &a)
}

// Release is POST /v1/hosts/{host}/release.
// Pause pauses vigil (vigil pause); req.Reason is required.
func (c *Client) Pause(ctx context.Context, req ReleaseRequest) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/pause", req, &a)
}

// Resume ends a pause (vigil resume).
func (c *Client) Resume(ctx context.Context, req ReleaseRequest) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/resume", req, &a)
}

func (c *Client) Release(ctx context.Context, host string, req ReleaseRequest) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, "/v1/hosts/"+url.PathEscape(host)+"/release", req, &a)
}
