package config

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalid marks every error about the file's content: syntax, unknown
// keys, bad values and failed validation. Check with errors.Is; use
// errors.As with *Error to get the key's path and line.
var ErrInvalid = errors.New("config: invalid")

// ErrUnknownHost is returned by Levels for a host not in the file.
var ErrUnknownHost = errors.New("config: unknown host")

// Error is a problem with one key of the file.
type Error struct {
	// Path is the key's YAML path, e.g. "hosts[2].bmc.port" or
	// "fencing.domains.default.levels[0][1].driver". Empty for the file as
	// a whole.
	Path string
	// Line is the key's line in the file, 0 when not known.
	Line int
	// Msg says what is wrong and how to fix it. It never holds a secret.
	Msg string
	// Err is an underlying error (e.g. from package decision), or nil.
	Err error
}

func (e *Error) Error() string {
	s := "config: "
	if e.Path != "" {
		s += e.Path
		if e.Line > 0 {
			s += " (line " + strconv.Itoa(e.Line) + ")"
		}
		s += ": "
	} else if e.Line > 0 {
		s += "line " + strconv.Itoa(e.Line) + ": "
	}
	return s + e.Msg
}

// Unwrap lets errors.Is find ErrInvalid and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

func invalid(path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}
