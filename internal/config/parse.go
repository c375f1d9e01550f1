package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds the file Parse accepts; a configuration is a few KB.
const MaxFileSize = 4 << 20

// Parse reads a configuration file's content over Default(). It checks the
// file's shape (syntax, unknown keys, value types, inline passwords), but not
// the settings: call Validate, or use Load, which does both.
func Parse(data []byte) (Config, error) {
	c, _, err := parse(data)
	return c, err
}

// Load reads, parses and validates the file at path. Errors carry the
// offending key's line when it is known.
func Load(path string) (Config, error) { return loadFile(path, Default()) }

// loadFile reads the file at path over the defaults def, and validates it.
func loadFile[T interface{ Validate() error }](path string, def T) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("config: %w", err)
	}
	c, err := parseValidate(data, def)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parseValidate parses data over def and validates it, giving an error of
// the validation the line of its key.
func parseValidate[T interface{ Validate() error }](data []byte, def T) (T, error) {
	var zero T
	c, lines, err := parseAs(data, def)
	if err == nil {
		err = c.Validate()
		var e *Error
		if errors.As(err, &e) && e.Line == 0 {
			e.Line = lines.find(e.Path)
		}
	}
	if err != nil {
		return zero, err
	}
	return c, nil
}

// lineIndex maps a YAML path to the line of its key (or list item).
type lineIndex map[string]int

// find returns the line of path, or of its nearest ancestor in the file.
func (l lineIndex) find(path string) int {
	for path != "" {
		if n, ok := l[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func parse(data []byte) (Config, lineIndex, error) { return parseAs(data, Default()) }

// parseAs reads data over the defaults c: any of the package's file types.
func parseAs[T any](data []byte, c T) (T, lineIndex, error) {
	var zero T
	if len(data) > MaxFileSize {
		return zero, nil, invalid("", "the file is larger than %d bytes", MaxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, lineIndex{}, nil // empty file: defaults only
		}
		return zero, nil, syntaxErr(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return zero, nil, syntaxErr(err, data)
		}
		return zero, nil, &Error{Line: extra.Line, Msg: "a second YAML document (---) follows; vigil reads one"}
	}

	w := walker{lines: lineIndex{}, seen: map[visit]bool{}, merged: map[*yaml.Node][]pair{}, open: map[*yaml.Node]bool{}}
	if len(doc.Content) == 1 {
		if err := w.walk(doc.Content[0], reflect.TypeFor[T](), ""); err != nil {
			return zero, nil, err
		}
	}

	// The walk has checked every key and value with its path; decoding
	// with KnownFields is the backstop should the two ever disagree.
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return zero, nil, &Error{Msg: strings.Join(te.Errors, "; ")}
		}
		return zero, nil, syntaxErr(err, data)
	}
	return c, w.lines, nil
}

func syntaxErr(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if bytes.Contains(data, []byte("\n\t")) || bytes.HasPrefix(data, []byte("\t")) {
		msg += " (the file indents with a tab; YAML indents with spaces only)"
	}
	return &Error{Msg: msg}
}

var (
	durationType = reflect.TypeFor[Duration]()
	deviceType   = reflect.TypeFor[Device]()
)

// walker checks the node tree against the Go types before decoding, so that
// every error can name the key's YAML path and line.
type walker struct {
	lines lineIndex
	// seen stops aliases from being walked twice (and "billion laughs"
	// documents from taking exponential time).
	seen map[visit]bool
	// merged caches the expanded entries of each mapping, so that chains of
	// merges cost linear time; open holds the mappings being expanded, to
	// refuse a merge of a mapping into itself.
	merged map[*yaml.Node][]pair
	open   map[*yaml.Node]bool
}

type visit struct {
	n *yaml.Node
	t reflect.Type
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || isNull(n) {
		return nil // the decoder keeps the default
	}
	if w.seen[visit{n, t}] {
		return nil
	}
	w.seen[visit{n, t}] = true

	switch {
	case t == durationType:
		return w.leaf(n, t, path)
	case t.Kind() == reflect.Struct:
		return w.structure(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.errAt(n, path, "expected a list, found %s", kindName(n))
		}
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			w.lines[p] = item.Line
			if isNull(deref(item)) {
				return w.errAt(item, p, "empty list item; remove it or fill it in")
			}
			if err := w.walk(item, t.Elem(), p); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Map:
		pairs, err := w.pairs(n, path)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			p := path + "." + kv.key.Value
			w.lines[p] = kv.key.Line
			if err := w.walk(kv.value, t.Elem(), p); err != nil {
				return err
			}
		}
		return nil
	default:
		return w.leaf(n, t, path)
	}
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, path string) error {
	pairs, err := w.pairs(n, path)
	if err != nil {
		return err
	}
	fields := yamlFields(t)
	for _, kv := range pairs {
		name := kv.key.Value
		p := join(path, name)
		w.lines[p] = kv.key.Line
		if t == deviceType && name == "password" {
			return w.errAt(kv.key, p, "inline passwords are not accepted; put the password in a file readable only by vigil and set password_file, or name an environment variable in password_env")
		}
		f, ok := fields[name]
		if !ok {
			return w.errAt(kv.key, p, "unknown key %q; keys allowed here: %s", name, strings.Join(sortedKeys(fields), ", "))
		}
		if err := w.walk(kv.value, f, p); err != nil {
			return err
		}
	}
	return nil
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with "<<" merge keys expanded; an entry
// written in the mapping itself wins over a merged one, as in the decoder.
func (w *walker) pairs(n *yaml.Node, path string) ([]pair, error) {
	if n.Kind != yaml.MappingNode {
		return nil, w.errAt(n, path, "expected a mapping (key: value), found %s", kindName(n))
	}
	if p, ok := w.merged[n]; ok {
		return p, nil
	}
	if w.open[n] {
		return nil, w.errAt(n, path, "a merge (<<) includes the mapping it is part of")
	}
	w.open[n] = true
	defer delete(w.open, n)
	var own, merged []pair
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, w.errAt(k, path, "a key must be a plain name, found %s", kindName(k))
		}
		if isMerge(k) {
			m, err := w.mergeSources(v, path, 0)
			if err != nil {
				return nil, err
			}
			merged = append(merged, m...)
			continue
		}
		if line, dup := first[k.Value]; dup {
			return nil, w.errAt(k, join(path, k.Value), "key %q appears twice (first on line %d)", k.Value, line)
		}
		first[k.Value] = k.Line
		own = append(own, pair{k, v})
	}
	for _, kv := range merged {
		if _, dup := first[kv.key.Value]; !dup {
			first[kv.key.Value] = kv.key.Line
			own = append(own, kv)
		}
	}
	w.merged[n] = own
	return own, nil
}

// mergeSources expands the value of a "<<" key: a mapping, an alias of one,
// or a list of those.
func (w *walker) mergeSources(v *yaml.Node, path string, depth int) ([]pair, error) {
	if depth > 8 {
		return nil, w.errAt(v, path, "merge keys (<<) nested too deeply")
	}
	v = deref(v)
	switch v.Kind {
	case yaml.MappingNode:
		return w.pairs(v, path)
	case yaml.SequenceNode:
		var all []pair
		for _, item := range v.Content {
			if deref(item).Kind != yaml.MappingNode {
				return nil, w.errAt(item, path, "a merge (<<) list may hold only mappings")
			}
			m, err := w.mergeSources(item, path, depth+1)
			if err != nil {
				return nil, err
			}
			all = append(all, m...)
		}
		return all, nil
	}
	return nil, w.errAt(v, path, "a merge (<<) needs a mapping or a list of mappings")
}

func (w *walker) leaf(n *yaml.Node, t reflect.Type, path string) error {
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Int: "a whole number",
		reflect.Float64: "a number", reflect.Bool: "true or false",
	}[t.Kind()]
	if t == durationType {
		want = "a duration such as 10s"
	}
	if n.Kind != yaml.ScalarNode {
		return w.errAt(n, path, "expected %s, found %s", want, kindName(n))
	}
	if t == durationType {
		if _, err := parseDuration(n.Value); err != nil {
			return w.errAt(n, path, "%v", err)
		}
		return nil
	}
	// The decoder would truncate 1.5 into an int and read "yes" as true;
	// insist on the plain YAML types.
	tag := n.ShortTag()
	okTag := map[reflect.Kind]bool{
		reflect.Int:     tag == "!!int",
		reflect.Float64: tag == "!!int" || tag == "!!float",
		reflect.Bool:    tag == "!!bool",
		reflect.String:  true,
	}[t.Kind()]
	if err := n.Decode(reflect.New(t).Interface()); err != nil || !okTag {
		return w.errAt(n, path, "expected %s, found %q", want, n.Value)
	}
	return nil
}

func (w *walker) errAt(n *yaml.Node, path, format string, args ...any) error {
	return &Error{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML names of t's fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
