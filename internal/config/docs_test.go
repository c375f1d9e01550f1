package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// Every key of the file must be documented in docs/configuration.md.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var visit func(t reflect.Type, path string, seen map[reflect.Type]bool)
	check := func(path, key string) { // documented as `key` or `key.sub`
		if !strings.Contains(string(doc), "`"+key+"`") && !strings.Contains(string(doc), "`"+key+".") {
			t.Errorf("docs/configuration.md does not document %s", path)
		}
	}
	visit = func(ty reflect.Type, path string, seen map[reflect.Type]bool) {
		for ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || ty == durationType || seen[ty] {
			return
		}
		seen[ty] = true
		for key, ft := range yamlFields(ty) {
			p := join(path, key)
			check(p, key)
			visit(ft, p, seen)
		}
	}
	visit(reflect.TypeFor[Config](), "", map[reflect.Type]bool{})
}
