package api

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	tokA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // 36
	tokB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	tokC = "cccccccccccccccccccccccccccccccccccc"
)

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		s, ok := m[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func TestParseTokens(t *testing.T) {
	got, err := parseTokens([]byte("\xef\xbb\xbf# operators\n\n  alice:"+tokA+"  \r\n"+tokB+"\n # old one, retired\nbob.s@x-1 : "+tokC+"\n"), "op.tokens")
	if err != nil {
		t.Fatal(err)
	}
	want := []tokenEntry{{"alice", tokA, 3}, {"", tokB, 4}, {"bob.s@x-1", tokC, 6}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(tokenEntry{})); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
}

func TestParseTokensErrorsNameFileAndLineNeverTheToken(t *testing.T) {
	const short = "s3cr3t-but-short"
	for _, tc := range []struct {
		name, data, want string
	}{
		{"short", "# x\n" + short + "\n", "op.tokens line 2: the token is 16 characters, shorter than the 32 required; make one with: openssl rand -hex 32"},
		{"short named", "alice:" + short, "op.tokens line 1: the token is 16 characters"},
		{"space inside", tokA + " " + short, "op.tokens line 1: a token is printable ASCII without spaces; put comments on lines of their own"},
		{"bad name", "al ice:" + tokA, "op.tokens line 1: a name before the colon is 1 to 64 letters"},
		{"empty name", ":" + tokA, "op.tokens line 1: a name before the colon"},
		{"control char", "\x01" + tokA, "op.tokens line 1: a token is printable ASCII"},
		{"only comments", "# nothing\n\n", "op.tokens holds no token: add one per line (openssl rand -hex 32)"},
		{"empty", "", "op.tokens holds no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTokens([]byte(tc.data), "op.tokens")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			for _, secret := range []string{short, tokA, "al ice"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows what the line holds (%q)", err, secret)
				}
			}
		})
	}
}

func TestLoadTokens(t *testing.T) {
	read := files(map[string]string{
		"/etc/vigil/reader.tokens":   tokA + "\n",
		"/etc/vigil/operator.tokens": "alice:" + tokB + "\n" + tokC + "\n",
		"/etc/vigil/dup.tokens":      tokA + "\n",
	})
	tk, err := LoadTokens(read, "/etc/vigil/reader.tokens", "/etc/vigil/operator.tokens")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Count(Reader) != 1 || tk.Count(Operator) != 2 {
		t.Errorf("counts: %d readers, %d operators; want 1, 2", tk.Count(Reader), tk.Count(Operator))
	}
	for _, tc := range []struct {
		token string
		want  caller
		ok    bool
	}{
		{tokA, caller{Reader, "", "/etc/vigil/reader.tokens:1"}, true},
		{tokB, caller{Operator, "alice", "/etc/vigil/operator.tokens:1"}, true},
		{tokC, caller{Operator, "", "/etc/vigil/operator.tokens:2"}, true},
		{"", caller{}, false},
		{tokA[1:], caller{}, false},
		{tokA + "a", caller{}, false},
	} {
		got, ok := tk.lookup(tc.token)
		if ok != tc.ok || got != tc.want {
			t.Errorf("lookup(%q) = %+v, %v; want %+v, %v", tc.token, got, ok, tc.want, tc.ok)
		}
	}

	for _, tc := range []struct {
		name, reader, operator, want string
	}{
		{"none", "", "", ErrNoTokens.Error()},
		{"missing", "/etc/vigil/reader.tokens", "/etc/vigil/nope", "api: operator tokens: open /etc/vigil/nope: file does not exist; check the path"},
		{"twice", "/etc/vigil/dup.tokens", "/etc/vigil/reader.tokens", "api: /etc/vigil/reader.tokens:1: the token on this line is also on /etc/vigil/dup.tokens:1: give each token one role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTokens(read, tc.reader, tc.operator)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := LoadTokens(read, "", ""); !errors.Is(err, ErrNoTokens) {
		t.Errorf("no files: %v, want ErrNoTokens", err)
	}
}

// TestLookupComparesEveryTokenInConstantTime checks that a token is
// compared with every admitted one by digest, in constant time, and that
// the search does not stop at a match: neither the time to answer nor its
// variation says which token matched, or how much of one.
func TestLookupComparesEveryTokenInConstantTime(t *testing.T) {
	tk, err := LoadTokens(files(map[string]string{"r": tokA, "o": tokB + "\n" + tokC}), "r", "o")
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(tk.equal).Pointer() != reflect.ValueOf(constantTimeEqual).Pointer() {
		t.Fatal("LoadTokens does not compare with constantTimeEqual")
	}
	if !constantTimeEqual([]byte("same"), []byte("same")) || constantTimeEqual([]byte("same"), []byte("diff")) {
		t.Fatal("constantTimeEqual is not equality")
	}
	var calls int
	var lens []int
	tk.equal = func(a, b []byte) bool {
		calls++
		lens = append(lens, len(a), len(b))
		return constantTimeEqual(a, b)
	}
	for _, tok := range []string{tokA, tokC, "x", strings.Repeat("y", 500)} {
		calls, lens = 0, nil
		tk.lookup(tok)
		if calls != 3 {
			t.Errorf("lookup of a %d-byte token compared %d times, want 3 (every token, no early exit)", len(tok), calls)
		}
		for _, n := range lens {
			if n != 32 {
				t.Errorf("compared %d bytes: want digests of 32, whatever the token's length", n)
			}
		}
	}
}

func TestLoadClientToken(t *testing.T) {
	read := files(map[string]string{"one": "# mine\nalice:" + tokA + "\n", "two": tokA + "\n" + tokB})
	if tok, err := LoadClientToken(read, "one"); err != nil || tok != tokA {
		t.Errorf("one: %q, %v", tok, err)
	}
	if _, err := LoadClientToken(read, "two"); err == nil || !strings.Contains(err.Error(), "two holds 2 tokens: a client's token file holds one") {
		t.Errorf("two: %v", err)
	}
	if _, err := LoadClientToken(read, "none"); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("none: %v", err)
	}
}
