// Package notify sends the controller's events to an operator's webhook:
// every host state change and every alert, as JSON, signed with HMAC-SHA256
// so the receiver can tell vigil's messages from anyone else's, and retried
// with backoff when the receiver fails. It never blocks the controller's
// loop: events queue, and when the queue is full the oldest are dropped and
// counted (the journal and the controller's history keep the truth; a
// webhook is a courtesy, not a record).
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one message: a transition or an alert.
type Event struct {
	Controller string    `json:"controller"`
	At         time.Time `json:"at"`
	Host       string    `json:"host"`
	Kind       string    `json:"kind"` // "transition" or "alert"
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Rule       string    `json:"rule,omitempty"`
	Evidence   []string  `json:"evidence,omitempty"`
	Code       string    `json:"code,omitempty"` // alert code, e.g. fence-failed
	Reason     string    `json:"reason,omitempty"`
}

// Headers of each delivery.
const (
	// SignatureHeader is "sha256=" and the hex HMAC-SHA256, keyed with the
	// shared secret, of TimestampHeader's value, ".", and the body.
	SignatureHeader = "X-Vigil-Signature"
	// TimestampHeader is the delivery's Unix time in seconds: a receiver
	// refuses old ones (a replayed delivery).
	TimestampHeader = "X-Vigil-Timestamp"
	// DeliveryHeader is a random id, the same for every attempt of one
	// delivery: a receiver drops repeats.
	DeliveryHeader = "X-Vigil-Delivery"
)

// Config configures a Sender.
type Config struct {
	URL    string
	Secret []byte
	// Attempts per event (default 6: 1+2+4+8+16 s of backoff, then dropped).
	Attempts int
	Backoff  time.Duration // first wait between attempts, doubling; default 1s
	Timeout  time.Duration // per attempt; default 5s
	Queue    int           // events waiting; default 1000
	Client   *http.Client
	Log      *slog.Logger
}

// Sender delivers events to one webhook, in order, one at a time.
type Sender struct {
	cfg     Config
	mu      sync.Mutex
	queue   []Event
	wake    chan struct{}
	dropped int
	sent    int
}

// New returns a sender; Run delivers.
func New(cfg Config) (*Sender, error) {
	if !strings.HasPrefix(cfg.URL, "https://") && !strings.HasPrefix(cfg.URL, "http://") {
		return nil, fmt.Errorf("notify: url %q: want an http or https URL", cfg.URL)
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("notify: the secret is shorter than 16 bytes: write a long random one (openssl rand -hex 32) to the secret file")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1000
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Send queues ev and returns at once.
func (s *Sender) Send(ev Event) {
	s.mu.Lock()
	if len(s.queue) >= s.cfg.Queue {
		s.queue = s.queue[1:]
		s.dropped++
		if s.dropped == 1 || s.dropped%100 == 0 {
			s.cfg.Log.Warn("webhook queue full: dropping the oldest events", "dropped", s.dropped)
		}
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats are how many events were delivered and dropped (queue full, or out
// of attempts).
func (s *Sender) Stats() (sent, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.dropped
}

// Run delivers queued events until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		s.mu.Lock()
		var ev *Event
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue = s.queue[1:]
			ev = &e
		}
		s.mu.Unlock()
		if ev == nil {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		ok := s.deliver(ctx, *ev)
		s.mu.Lock()
		if ok {
			s.sent++
		} else {
			s.dropped++
		}
		s.mu.Unlock()
	}
}

// deliver tries ev Attempts times with doubling backoff.
func (s *Sender) deliver(ctx context.Context, ev Event) bool {
	body, err := json.Marshal(ev)
	if err != nil {
		return false // plain data: cannot fail
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := s.post(ctx, body, hex.EncodeToString(id))
		if err == nil {
			return true
		}
		if attempt >= s.cfg.Attempts || ctx.Err() != nil {
			s.cfg.Log.Error("webhook delivery failed: event dropped", "host", ev.Host, "kind", ev.Kind, "attempts", attempt, "err", err)
			return false
		}
		s.cfg.Log.Warn("webhook delivery failed: retrying", "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (s *Sender) post(ctx context.Context, body []byte, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(DeliveryHeader, id)
	req.Header.Set(SignatureHeader, Sign(s.cfg.Secret, ts, body))
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Sign is the SignatureHeader value for a delivery at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature and that its timestamp is within
// maxAge of now: what a receiver does (and vigil's tests).
func Verify(secret []byte, ts, sig string, body []byte, now time.Time, maxAge time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("notify: timestamp %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("notify: timestamp %s is %v off: too old or from the future", ts, d)
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return errors.New("notify: signature does not match")
	}
	return nil
}
