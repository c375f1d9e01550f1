package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeMaintenance(t *testing.T) {
	for _, tc := range []struct {
		body string
		want MaintenanceRequest
		err  string // "" for none
	}{
		{`{"on":true,"reason":"kernel upgrade"}`, MaintenanceRequest{true, "kernel upgrade"}, ""},
		{` {"reason":"done","on":false} `, MaintenanceRequest{false, "done"}, ""},
		{`{"on":false}`, MaintenanceRequest{}, ""},
		{`{"on":true}`, MaintenanceRequest{}, `field "reason": required when on is true`},
		{`{"on":true,"reason":""}`, MaintenanceRequest{}, `field "reason": required when on is true`},
		{`{"reason":"x"}`, MaintenanceRequest{}, `field "on": required`},
		{`{"on":"yes","reason":"x"}`, MaintenanceRequest{}, `field "on": want true or false`},
		{`{"on":null}`, MaintenanceRequest{}, `field "on": want true or false`},
		{`{"on":true,"reason":7}`, MaintenanceRequest{}, `field "reason": want a string`},
		{`{"on":true,"reason":"a\nb"}`, MaintenanceRequest{}, `field "reason": one line of text`},
		{`{"on":true,"reason":"x","host":"cmp2"}`, MaintenanceRequest{}, `field "host": unknown field`},
		{`{"on":true,"On":false,"reason":"x"}`, MaintenanceRequest{}, `field "On": unknown field`},
		{`{"on":true,"on":false,"reason":"x"}`, MaintenanceRequest{}, `field "on": given twice`},
		{`{"on":true,"reason":"x"} {}`, MaintenanceRequest{}, "unexpected data after the JSON object"},
		{`{"on":true,`, MaintenanceRequest{}, "the JSON body ends early"},
		{`{"on":tru}`, MaintenanceRequest{}, "malformed JSON at byte"},
		{`[true]`, MaintenanceRequest{}, "the body must be a JSON object"},
		{``, MaintenanceRequest{}, "a JSON body is required"},
		{`{"on":true,"reason":"` + strings.Repeat("x", maxReason+1) + `"}`, MaintenanceRequest{}, `field "reason": longer than 1024 bytes`},
	} {
		got, err := decodeMaintenance(strings.NewReader(tc.body))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%.60s: %v", tc.body, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%.60s: error %v, want %q", tc.body, err, tc.err)
		case got != tc.want:
			t.Errorf("%.60s: %+v, want %+v", tc.body, got, tc.want)
		}
	}
}

func TestDecodeConfirmAndRelease(t *testing.T) {
	if c, err := decodeConfirm(strings.NewReader(`{"by":"alice","reason":"pulled its power cords"}`)); err != nil || c != (ConfirmRequest{"alice", "pulled its power cords"}) {
		t.Errorf("confirm: %+v, %v", c, err)
	}
	for body, want := range map[string]string{
		`{"by":"alice"}`:            `field "reason": required: say how you know the host is off`,
		``:                          "a JSON body is required",
		`{"reason":"x","host":"h"}`: `field "host": unknown field`,
		`{"reason":"x","by":"` + strings.Repeat("b", maxBy+1) + `"}`: `field "by": longer than 64 bytes`,
	} {
		if _, err := decodeConfirm(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("confirm %.40s: %v, want %q", body, err, want)
		}
	}
	for body, want := range map[string]ReleaseRequest{``: {}, `{}`: {}, `{"reason":"rack 4 is really down"}`: {Reason: "rack 4 is really down"}} {
		if r, err := decodeRelease(strings.NewReader(body)); err != nil || r != want {
			t.Errorf("release %q: %+v, %v", body, r, err)
		}
	}
	if _, err := decodeRelease(strings.NewReader(`{"force":true}`)); err == nil || !strings.Contains(err.Error(), `field "force": unknown field`) {
		t.Errorf("release with an unknown field: %v", err)
	}
}

// checkText is what every decoded string must be.
func checkText(t *testing.T, field, s string, max int) {
	if len(s) > max || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\n\r\t\x7f") {
		t.Fatalf("%s %q passed the decoder", field, s)
	}
}

// roundTrip encodes v and decodes it again with dec: what the decoder
// accepted, encoded, it accepts again unchanged.
func roundTrip[T comparable](t *testing.T, v T, dec func(*bytes.Reader) (T, error)) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	again, err := dec(bytes.NewReader(b))
	if err != nil || again != v {
		t.Fatalf("%s decodes to %+v, %v; want %+v", b, again, err, v)
	}
}

func FuzzDecodeMaintenance(f *testing.F) {
	f.Add([]byte(`{"on":true,"reason":"kernel upgrade"}`))
	f.Add([]byte(`{"on":false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeMaintenance(bytes.NewReader(body))
		if err != nil {
			if m != (MaintenanceRequest{}) {
				t.Fatalf("an error with a value: %+v", m)
			}
			return
		}
		if m.On && m.Reason == "" {
			t.Fatal("maintenance on without a reason passed")
		}
		checkText(t, "reason", m.Reason, maxReason)
		roundTrip(t, m, func(r *bytes.Reader) (MaintenanceRequest, error) { return decodeMaintenance(r) })
	})
}

func FuzzDecodeConfirm(f *testing.F) {
	f.Add([]byte(`{"by":"alice","reason":"pulled its power cords"}`))
	f.Add([]byte(`{"reason":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeConfirm(bytes.NewReader(body))
		if err != nil {
			return
		}
		if c.Reason == "" {
			t.Fatal("a confirm without a reason passed")
		}
		checkText(t, "reason", c.Reason, maxReason)
		checkText(t, "by", c.By, maxBy)
		roundTrip(t, c, func(r *bytes.Reader) (ConfirmRequest, error) { return decodeConfirm(r) })
	})
}

func FuzzDecodeRelease(f *testing.F) {
	f.Add([]byte(``))
	f.Add([]byte(`{"by":"bob","reason":"rack 4 lost power"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeRelease(bytes.NewReader(body))
		if err != nil {
			return
		}
		checkText(t, "reason", c.Reason, maxReason)
		checkText(t, "by", c.By, maxBy)
		roundTrip(t, c, func(r *bytes.Reader) (ReleaseRequest, error) { return decodeRelease(r) })
	})
}

func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("# operators\nalice:" + tokA + "\n" + tokB + "\n"))
	f.Add([]byte("short\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseTokens(data, "fuzz.tokens")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "api: fuzz.tokens ") {
				t.Fatalf("error %q does not name the file first", err)
			}
			return
		}
		if len(entries) == 0 {
			t.Fatal("no error and no token")
		}
		for _, e := range entries {
			if len(e.token) < MinTokenLen || !printable(e.token) || strings.Contains(e.token, ":") {
				t.Fatalf("token %q passed", e.token)
			}
			if e.name != "" && !validName(e.name) {
				t.Fatalf("name %q passed", e.name)
			}
			// What was parsed parses again, to the same.
			line := e.token
			if e.name != "" {
				line = e.name + ":" + e.token
			}
			again, err := parseTokens([]byte(line), "again")
			if err != nil || len(again) != 1 || again[0].name != e.name || again[0].token != e.token {
				t.Fatalf("%q parses to %+v, %v", line, again, err)
			}
		}
	})
}
