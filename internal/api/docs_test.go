package api_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/internal/api"
)

// TestDocsMatchCode checks docs/api.md against the code: every endpoint it
// lists is served, every error code is documented, and its token file
// example loads.
func TestDocsMatchCode(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	srv, _, _ := newServer(t)
	routes := regexp.MustCompile("(?m)^\\| `(GET|POST) ([^`?]+)[^`]*` \\|").FindAllStringSubmatch(string(doc), -1)
	if len(routes) != 11 {
		t.Errorf("docs/api.md lists %d endpoints, the handler serves 11", len(routes))
	}
	for _, r := range routes {
		path := strings.ReplaceAll(r[2], "{host}", "cmp1")
		body := ""
		if r[1] == "POST" {
			body = `{"on":true,"reason":"x"}`
			if !strings.HasSuffix(path, "/maintenance") {
				body = `{"reason":"x"}`
			}
		}
		if a := call(t, srv, r[1], path, opTok, body); a.status/100 != 2 {
			t.Errorf("documented %s %s: %d %s", r[1], r[2], a.status, a.body)
		}
	}
	for _, code := range []string{api.CodeUnauthorized, api.CodeForbidden, api.CodeBadRequest, api.CodeTooLarge, api.CodeUnknownHost,
		api.CodeNotFound, api.CodeMethod, api.CodeNotLeading, api.CodeUnavailable, api.CodeInternal} {
		if !strings.Contains(string(doc), "| `"+code+"` |") {
			t.Errorf("docs/api.md does not list the error code %q", code)
		}
	}
	example := regexp.MustCompile("(?s)```\n(# /etc/vigil/api-operators.tokens[^`]*)```").FindSubmatch(doc)
	if example == nil {
		t.Fatal("docs/api.md has no token file example")
	}
	tk, err := api.LoadTokens(func(string) ([]byte, error) { return example[1], nil }, "", "example")
	if err != nil || tk.Count(api.Operator) != 2 {
		t.Errorf("the docs' token file: %v, %d tokens", err, tk.Count(api.Operator))
	}
}
