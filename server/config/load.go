package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"
)

// decodeYAML maps the YAML in raw onto c. It walks the YAML tree against
// the Go types itself, so that every problem names the file, the line and
// the field's path, and an unknown field suggests the one that was meant.
// ${NAME} references in values are replaced by environment variables as
// the tree is walked (see expandEnv). file only names the source in errors.
func decodeYAML(file string, raw []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: defaults and Validate decide
		}
		return fmt.Errorf("config: %s: %w", sourceName(file), err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("config: %s: want one YAML document, found another at line %d", sourceName(file), extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", sourceName(file), err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	w := &walker{file: file}
	v := w.value(doc.Content[0], reflect.TypeFor[Config](), "", true)
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("config: %s: %w", sourceName(file), err)
	}
	// The walker has checked every field and type; the strict decoder is a
	// second line of defence, never the usual source of an error.
	jd := json.NewDecoder(bytes.NewReader(js))
	jd.DisallowUnknownFields()
	if err := jd.Decode(c); err != nil {
		return fmt.Errorf("config: %s: %w", sourceName(file), err)
	}
	return nil
}

func sourceName(file string) string {
	if file == "" {
		return "<config>"
	}
	return file
}

// walker converts a YAML node tree into plain JSON values, guided by the
// Go type each node is decoded into, and collects every error on the way.
type walker struct {
	file  string
	errs  []error
	nodes int // visited, aliases expanded: bounds a file of nested aliases
}

// maxNodes is far above any real configuration and far below what a few
// lines of nested YAML aliases can expand to.
const maxNodes = 100_000

// enter counts a node and reports whether the walk may go on.
func (w *walker) enter(n *yaml.Node, path string) bool {
	w.nodes++
	if w.nodes == maxNodes+1 {
		w.fail(n, path, "more than %d values once aliases are expanded", maxNodes)
	}
	return w.nodes <= maxNodes
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	at := fmt.Sprintf("%s:%d", sourceName(w.file), n.Line)
	if path == "" {
		w.errs = append(w.errs, fmt.Errorf("config: %s: %s", at, fmt.Sprintf(format, args...)))
		return
	}
	w.errs = append(w.errs, fmt.Errorf("config: %s: %s: %s", at, path, fmt.Sprintf(format, args...)))
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// value converts n for a field of type t at path. expand says whether
// ${NAME} references are replaced here.
func (w *walker) value(n *yaml.Node, t reflect.Type, path string, expand bool) any {
	if !w.enter(n, path) {
		return nil
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		v := w.untyped(n, path, expand)
		if t == reflect.TypeFor[json.RawMessage]() {
			return v
		}
		// Let the type judge its own value here, where the path and the
		// line are known.
		if b, err := json.Marshal(v); err == nil {
			if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b); err != nil {
				w.fail(n, path, "%v", err)
			}
		}
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(n, t.Elem(), path, expand)
	case reflect.Struct:
		return w.object(n, t, path, expand)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "want a mapping, got %s", describe(n))
			return nil
		}
		out := map[string]any{}
		for _, kv := range w.pairs(n, path) {
			key, ok := w.scalar(kv.key, path, expand)
			if !ok {
				continue
			}
			out[key] = w.value(kv.value, t.Elem(), join(path, key), expand)
		}
		return out
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "want a list, got %s", describe(n))
			return nil
		}
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			out = append(out, w.value(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), expand))
		}
		return out
	case reflect.Interface:
		return w.untyped(n, path, expand)
	}
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "want a single value, got %s", describe(n))
		return nil
	}
	s, ok := w.scalar(n, path, expand)
	if !ok {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		// As with sigs.k8s.io/yaml before: a number written for a string
		// field (an account number, a policy id) is that string.
		return s
	case reflect.Bool:
		var b bool
		if err := resolved(n, s).Decode(&b); err != nil {
			w.fail(n, path, "want true or false, got %q", s)
			return nil
		}
		return b
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if err := resolved(n, s).Decode(&i); err != nil || reflect.Zero(t).OverflowInt(i) {
			w.fail(n, path, "want a whole number, got %q", s)
			return nil
		}
		return i
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if err := resolved(n, s).Decode(&u); err != nil || reflect.Zero(t).OverflowUint(u) {
			w.fail(n, path, "want a whole number of at least 0, got %q", s)
			return nil
		}
		return u
	case reflect.Float32, reflect.Float64:
		var f float64
		if err := resolved(n, s).Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			w.fail(n, path, "want a number, got %q", s)
			return nil
		}
		return f
	}
	w.fail(n, path, "cannot hold a value of Go type %s", t)
	return nil
}

// object converts a mapping into the fields of struct t. A key that is no
// field is an error, with the closest field name as a suggestion.
func (w *walker) object(n *yaml.Node, t reflect.Type, path string, expand bool) any {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "want a mapping, got %s", describe(n))
		return nil
	}
	fields := map[string]reflect.StructField{}
	var names []string
	for _, f := range reflect.VisibleFields(t) { // an embedded struct's fields are its parent's
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = f
		names = append(names, name)
	}
	out := map[string]any{}
	for _, kv := range w.pairs(n, path) {
		key := kv.key.Value
		f, ok := fields[key]
		if !ok {
			if hint := closest(key, names); hint != "" {
				w.fail(kv.key, path, "unknown field %q (did you mean %s?)", key, hint)
			} else {
				w.fail(kv.key, path, "unknown field %q", key)
			}
			continue
		}
		// A section that another program reads (OPA's own configuration)
		// keeps its ${NAME} references for that program to resolve.
		sub := expand && f.Tag.Get("config") != "noexpand"
		out[key] = w.value(kv.value, f.Type, join(path, key), sub)
	}
	return out
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries, with YAML merge keys (<<) applied: an
// entry written in the mapping wins over a merged one. A key written twice
// is an error, because one of the two would be silently ignored.
func (w *walker) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, src := range sources {
				for src.Kind == yaml.AliasNode {
					src = src.Alias
				}
				if src.Kind != yaml.MappingNode {
					w.fail(k, path, "a merge key (<<) needs a mapping or a list of mappings")
					continue
				}
				merged = append(merged, w.pairs(src, path)...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "want a plain key, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			w.fail(k, join(path, k.Value), "written twice in the same mapping")
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

// untyped converts a node that no Go type describes (opa_config, a
// duration) into the JSON value YAML's own rules give it.
func (w *walker) untyped(n *yaml.Node, path string, expand bool) any {
	if !w.enter(n, path) {
		return nil
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for _, kv := range w.pairs(n, path) {
			out[kv.key.Value] = w.untyped(kv.value, join(path, kv.key.Value), expand)
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			out = append(out, w.untyped(item, fmt.Sprintf("%s[%d]", path, i), expand))
		}
		return out
	}
	s, ok := w.scalar(n, path, expand)
	if !ok {
		return nil
	}
	r := resolved(n, s)
	switch r.ShortTag() {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := r.Decode(&v); err == nil {
			if f, isFloat := v.(float64); !isFloat || !(math.IsInf(f, 0) || math.IsNaN(f)) {
				return v
			}
		}
	}
	return s
}

// scalar returns a scalar's text, with ${NAME} references replaced when
// expand is set.
func (w *walker) scalar(n *yaml.Node, path string, expand bool) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "want a single value, got %s", describe(n))
		return "", false
	}
	if !expand {
		return n.Value, true
	}
	s, err := expandEnv(n.Value)
	if err != nil {
		w.fail(n, path, "%v", err)
		return "", false
	}
	return s, true
}

// resolved is n with the text s, typed again by YAML's rules when s came
// from the environment: port: ${PORT} is a number, as port: 8080 is.
func resolved(n *yaml.Node, s string) *yaml.Node {
	if s == n.Value {
		return n
	}
	r := *n
	r.Value = s
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		r.Tag = ""
	}
	return &r
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the name in names nearest to key, if it is near enough
// to be the one meant: a changed case, or a few typed letters.
func closest(key string, names []string) string {
	best, bestD := "", math.MaxInt
	for _, name := range names {
		if strings.EqualFold(key, name) {
			return name
		}
		if d := levenshtein.ComputeDistance(key, name); d < bestD {
			best, bestD = name, d
		}
	}
	if bestD <= max(2, len(key)/3) {
		return best
	}
	return ""
}
