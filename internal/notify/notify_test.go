package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// receiver is a webhook that fails its first failures deliveries with 500,
// then verifies and keeps each one.
type receiver struct {
	mu       sync.Mutex
	failures int
	got      []Event
	ids      map[string]int
	bad      []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[req.Header.Get(DeliveryHeader)]++
	if err := Verify(secret, req.Header.Get(TimestampHeader), req.Header.Get(SignatureHeader), body, time.Now(), time.Minute); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.failures > 0 {
		r.failures--
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.bad = append(r.bad, err.Error())
		return
	}
	r.got = append(r.got, ev)
}

func (r *receiver) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

// Events arrive signed, in order; a receiver failing twice gets the event
// on the third attempt, under one delivery id.
func TestDeliversSignedInOrderWithRetries(t *testing.T) {
	rc := &receiver{failures: 2, ids: map[string]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s, err := New(Config{URL: srv.URL, Secret: secret, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Send(Event{Controller: "ctl1", Host: "cmp1", Kind: "transition", From: "healthy", To: "suspect"})
	s.Send(Event{Controller: "ctl1", Host: "cmp1", Kind: "alert", Code: "fence-failed"})
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.events()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := rc.events()
	if len(got) != 2 || got[0].To != "suspect" || got[1].Code != "fence-failed" {
		t.Fatalf("received %+v; want the transition, then the alert", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Fatalf("bad deliveries: %v", rc.bad)
	}
	attempts := 0
	for _, n := range rc.ids {
		attempts = max(attempts, n)
	}
	if len(rc.ids) != 2 || attempts != 3 {
		t.Fatalf("delivery ids %v: want 2 deliveries, the first in 3 attempts", rc.ids)
	}
}

// A forged or replayed delivery fails verification.
func TestVerifyRefusesForgedAndOld(t *testing.T) {
	body := []byte(`{"host":"cmp1"}`)
	now := time.Now()
	ts := "1700000000"
	if err := Verify(secret, ts, Sign(secret, ts, body), body, time.Unix(1700000000, 0), time.Minute); err != nil {
		t.Fatalf("a good delivery: %v", err)
	}
	if err := Verify(secret, ts, Sign(secret, ts, body), body, now, time.Minute); err == nil || !strings.Contains(err.Error(), "too old") {
		t.Fatalf("an old delivery: %v, want too old", err)
	}
	if err := Verify([]byte("another-secret-of-32-bytes-long!"), ts, Sign(secret, ts, body), body, time.Unix(1700000000, 0), time.Minute); err == nil {
		t.Fatal("a delivery signed with another secret passed")
	}
	if err := Verify(secret, ts, Sign(secret, ts, body), []byte(`{"host":"cmp2"}`), time.Unix(1700000000, 0), time.Minute); err == nil {
		t.Fatal("a changed body passed")
	}
}

// A full queue drops the oldest, never blocks, and says how many.
func TestFullQueueDropsOldest(t *testing.T) {
	s, err := New(Config{URL: "http://127.0.0.1:1", Secret: secret, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.Send(Event{Host: string(rune('a' + i))})
	}
	if _, dropped := s.Stats(); dropped != 3 || len(s.queue) != 2 || s.queue[0].Host != "d" {
		t.Fatalf("dropped %d, queue %+v; want 3 dropped and d, e left", dropped, s.queue)
	}
	if _, err := New(Config{URL: "ftp://x", Secret: secret}); err == nil {
		t.Fatal("an ftp URL was taken")
	}
	if _, err := New(Config{URL: "https://x", Secret: []byte("short")}); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Fatalf("a short secret: %v", err)
	}
}
