package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// A bodyError says what is wrong with a request body, naming the field.
type bodyError struct {
	field string // "" when the body as a whole is wrong
	msg   string
	err   error // the reader's error, if that is what went wrong
}

func (e *bodyError) Unwrap() error { return e.err }

func (e *bodyError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return fmt.Sprintf("field %q: %s", e.field, e.msg)
}

// Longest reason and by accepted: they go to logs and the history.
const (
	maxReason = 1024
	maxBy     = 64
)

// decodeFields reads one JSON object from r and hands each field's raw value
// to set, which must know it. Unknown and repeated fields, trailing data
// and anything but an object are errors naming what is wrong; an empty
// body is an empty object when emptyOK. (It walks the object's keys itself
// rather than use DisallowUnknownFields, whose error names the field only
// in its text.)
func decodeFields(r io.Reader, emptyOK bool, want string, set map[string]func(json.RawMessage) error) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		if emptyOK {
			return nil
		}
		return &bodyError{msg: "a JSON body is required: " + want}
	}
	if err != nil {
		return malformed(err, want)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &bodyError{msg: "the body must be a JSON object: " + want}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformed(err, want)
		}
		key, _ := tok.(string) // inside an object, json returns only string keys here
		fn, ok := set[key]
		if !ok {
			return &bodyError{field: key, msg: "unknown field; the body is " + want}
		}
		if seen[key] {
			return &bodyError{field: key, msg: "given twice"}
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return malformed(err, want)
		}
		if err := fn(raw); err != nil {
			return &bodyError{field: key, msg: err.Error()}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return malformed(err, want)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &bodyError{msg: "unexpected data after the JSON object"}
	}
	return nil
}

func malformed(err error, want string) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return &bodyError{msg: fmt.Sprintf("malformed JSON at byte %d: %v; the body is %s", syn.Offset, syn, want)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &bodyError{msg: "the JSON body ends early; the body is " + want}
	}
	return &bodyError{msg: fmt.Sprintf("cannot read the body: %v", err), err: err}
}

func boolField(dst **bool) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var b bool
		if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, &b) != nil {
			return errors.New("want true or false")
		}
		*dst = &b
		return nil
	}
}

func stringField(dst *string, max int) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, dst) != nil {
			return errors.New("want a string")
		}
		if len(*dst) > max {
			return fmt.Errorf("longer than %d bytes", max)
		}
		for _, c := range *dst {
			if c < ' ' || c == 0x7f || c == utf8.RuneError {
				return errors.New("one line of text: no control characters or invalid UTF-8")
			}
		}
		return nil
	}
}

const (
	maintenanceShape = `{"on": true|false, "reason": "why (required when on)"}`
	confirmShape     = `{"reason": "why you know the host is off", "by": "who (optional)"}`
	releaseShape     = `{"reason": "why (optional)", "by": "who (optional)"} or no body`
	rejoinShape      = `{"reason": "why the host may serve again", "by": "who (optional)"}`
)

// decodeMaintenance decodes and checks a maintenance body.
func decodeMaintenance(r io.Reader) (MaintenanceRequest, error) {
	var on *bool
	var m MaintenanceRequest
	err := decodeFields(r, false, maintenanceShape, map[string]func(json.RawMessage) error{
		"on":     boolField(&on),
		"reason": stringField(&m.Reason, maxReason),
	})
	switch {
	case err != nil:
		return MaintenanceRequest{}, err
	case on == nil:
		return MaintenanceRequest{}, &bodyError{field: "on", msg: "required: true puts the host into maintenance, false takes it out"}
	case *on && m.Reason == "":
		return MaintenanceRequest{}, &bodyError{field: "reason", msg: "required when on is true: say why the host is handed to an operator"}
	}
	m.On = *on
	return m, nil
}

// decodeConfirm decodes and checks a confirm body.
func decodeConfirm(r io.Reader) (ConfirmRequest, error) {
	var c ConfirmRequest
	err := decodeFields(r, false, confirmShape, map[string]func(json.RawMessage) error{
		"by":     stringField(&c.By, maxBy),
		"reason": stringField(&c.Reason, maxReason),
	})
	switch {
	case err != nil:
		return ConfirmRequest{}, err
	case c.Reason == "":
		return ConfirmRequest{}, &bodyError{field: "reason", msg: "required: say how you know the host is off (vigil starts its instances elsewhere on your word)"}
	}
	return c, nil
}

// decodeRejoin decodes and checks a rejoin body.
func decodeRejoin(r io.Reader) (RejoinRequest, error) {
	var c RejoinRequest
	err := decodeFields(r, false, rejoinShape, map[string]func(json.RawMessage) error{
		"by":     stringField(&c.By, maxBy),
		"reason": stringField(&c.Reason, maxReason),
	})
	switch {
	case err != nil:
		return RejoinRequest{}, err
	case c.Reason == "":
		return RejoinRequest{}, &bodyError{field: "reason", msg: "required: say why the host may serve again (vigil unfences it and enables it in Nova on your word, once it is clean)"}
	}
	return c, nil
}

// decodeRelease decodes a release body, which may be empty.
func decodeRelease(r io.Reader) (ReleaseRequest, error) {
	var c ReleaseRequest
	err := decodeFields(r, true, releaseShape, map[string]func(json.RawMessage) error{
		"by":     stringField(&c.By, maxBy),
		"reason": stringField(&c.Reason, maxReason),
	})
	if err != nil {
		return ReleaseRequest{}, err
	}
	return c, nil
}
