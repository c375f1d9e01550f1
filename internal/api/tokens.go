package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// Role is what a token may do. An operator may do everything a reader may.
type Role int

const (
	Reader   Role = iota + 1 // read the hosts' states and history
	Operator                 // also maintenance, confirm, release
)

func (r Role) String() string {
	switch r {
	case Reader:
		return "reader"
	case Operator:
		return "operator"
	}
	return "none"
}

// MinTokenLen is the shortest token admitted.
const MinTokenLen = 32

// ErrNoTokens: no token file was given; the API would refuse every call
// but /healthz.
var ErrNoTokens = errors.New("api: no token file given: every call but /healthz would be refused; make a file with one token per line (openssl rand -hex 32) and name it")

// Tokens are the bearer tokens the API admits. The zero value admits none.
type Tokens struct {
	creds []credential
	// equal compares two digests; constantTimeEqual outside tests, which
	// count its calls.
	equal func(a, b []byte) bool
}

// credential is one admitted token: only its digest is kept, so every
// comparison is of 32 bytes whatever the lengths, in constant time.
type credential struct {
	sum   [sha256.Size]byte
	role  Role
	name  string // "" when its line names none
	where string // "FILE:LINE", for logs: never the token
}

// caller is who made a request.
type caller struct {
	role  Role
	name  string
	where string
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// Count is the number of tokens of role r.
func (t Tokens) Count(r Role) int {
	n := 0
	for _, c := range t.creds {
		if c.role == r {
			n++
		}
	}
	return n
}

// lookup finds the credential of a presented token. It compares the
// token's digest with every credential's, in constant time and without
// stopping at a match, so the time taken says nothing of which token
// matched or how much of one.
func (t Tokens) lookup(token string) (caller, bool) {
	eq := t.equal
	if eq == nil {
		eq = constantTimeEqual
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.creds {
		if eq(sum[:], t.creds[i].sum[:]) && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return caller{}, false
	}
	c := t.creds[found]
	return caller{role: c.role, name: c.name, where: c.where}, true
}

// LoadTokens reads the reader and operator token files; either may be ""
// (no such tokens), not both. Each file holds one or more tokens, one per
// line, optionally named ("alice:TOKEN": the name is who an operator's
// commands are by); blank lines and lines starting with # are ignored. A
// token shorter than MinTokenLen is refused, and so is a token given twice.
func LoadTokens(readFile func(string) ([]byte, error), readerFile, operatorFile string) (Tokens, error) {
	if readerFile == "" && operatorFile == "" {
		return Tokens{}, ErrNoTokens
	}
	t := Tokens{equal: constantTimeEqual}
	seen := map[[sha256.Size]byte]string{}
	for _, f := range []struct {
		path string
		role Role
	}{{readerFile, Reader}, {operatorFile, Operator}} {
		if f.path == "" {
			continue
		}
		data, err := readFile(f.path)
		if err != nil {
			return Tokens{}, fmt.Errorf("api: %s tokens: %w; check the path, or leave the file out", f.role, err)
		}
		entries, err := parseTokens(data, f.path)
		if err != nil {
			return Tokens{}, err
		}
		for _, e := range entries {
			c := credential{sum: sha256.Sum256([]byte(e.token)), role: f.role, name: e.name, where: fmt.Sprintf("%s:%d", f.path, e.line)}
			if other, ok := seen[c.sum]; ok {
				return Tokens{}, fmt.Errorf("api: %s: the token on this line is also on %s: give each token one role (an operator's token may read too)", c.where, other)
			}
			seen[c.sum] = c.where
			t.creds = append(t.creds, c)
		}
	}
	return t, nil
}

// LoadClientToken reads the token a client presents: a file in the same
// format holding exactly one token (its name, if any, is dropped).
func LoadClientToken(readFile func(string) ([]byte, error), file string) (string, error) {
	data, err := readFile(file)
	if err != nil {
		return "", fmt.Errorf("api: token file: %w", err)
	}
	entries, err := parseTokens(data, file)
	if err != nil {
		return "", err
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("api: %s holds %d tokens: a client's token file holds one (copy yours into a file of its own)", file, len(entries))
	}
	return entries[0].token, nil
}

// tokenEntry is one token line.
type tokenEntry struct {
	name, token string
	line        int
}

// parseTokens parses a token file. Its errors name the file and the line,
// never what the line holds: it may be a secret.
func parseTokens(data []byte, file string) ([]tokenEntry, error) {
	var out []tokenEntry
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // an editor's BOM
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		at := func(format string, args ...any) error {
			return fmt.Errorf("api: %s line %d: %s", file, i+1, fmt.Sprintf(format, args...))
		}
		name, token, named := strings.Cut(line, ":")
		if !named {
			name, token = "", line
		}
		name, token = strings.TrimSpace(name), strings.TrimSpace(token)
		if named && !validName(name) {
			return nil, at("a name before the colon is 1 to 64 letters, digits or . _ @ - (name:token); a token itself has no colon")
		}
		if strings.Contains(token, ":") {
			return nil, at("a line is TOKEN or NAME:TOKEN, and a token has no colon")
		}
		if !printable(token) {
			return nil, at("a token is printable ASCII without spaces; put comments on lines of their own, starting with #")
		}
		if len(token) < MinTokenLen {
			return nil, at("the token is %d characters, shorter than the %d required; make one with: openssl rand -hex 32", len(token), MinTokenLen)
		}
		out = append(out, tokenEntry{name: name, token: token, line: i + 1})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("api: %s holds no token: add one per line (openssl rand -hex 32), or leave the file out", file)
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
