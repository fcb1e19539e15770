package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/signgate/signgate/internal/jsonenc"
)

// The append encoder writes a record as OPA's decision-log event, byte for
// byte what encoding/json's Encoder with SetEscapeHTML(false) writes for a
// logs.EventV1, without reflection. It walks the policy's input as the
// ast.Value it is, and JSON-like Go values (maps, []any, json.Number) for
// the rest. The differential test (equal_test.go) holds it to that.

// jsonWriter appends JSON to b; the first error stops it. One is reused
// for every record, so that walking an ast object (whose iteration takes a
// closure) costs one allocation per object at most.
type jsonWriter struct {
	b   []byte
	err error
}

// value appends x: a JSON-like Go value, or a plain ast.Value (null,
// boolean, number, string, array, object with string keys).
func (w *jsonWriter) value(x any) {
	if w.err != nil {
		return
	}
	switch v := x.(type) {
	case nil:
		w.b = append(w.b, "null"...)
	case bool:
		w.b = appendBool(w.b, v)
	case string:
		w.b = jsonenc.AppendString(w.b, v)
	case json.Number:
		w.b, w.err = appendNumber(w.b, string(v))
	case map[string]any:
		w.object(v)
	case []any:
		w.b = append(w.b, '[')
		for i, e := range v {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e)
		}
		w.b = append(w.b, ']')
	case map[string]string:
		w.b = append(w.b, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = jsonenc.AppendString(w.b, k)
			w.b = append(w.b, ':')
			w.b = jsonenc.AppendString(w.b, v[k])
		}
		w.b = append(w.b, '}')
	case ast.Value:
		w.ast(v)
	default:
		w.b, w.err = appendReflect(w.b, x)
	}
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func (w *jsonWriter) object(m map[string]any) {
	w.b = append(w.b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = jsonenc.AppendString(w.b, k)
		w.b = append(w.b, ':')
		w.value(m[k])
	}
	w.b = append(w.b, '}')
}

// sortedKeys is encoding/json's order of a map's keys: byte-wise.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ast appends a plain ast.Value as ast.JSON would make it and
// encoding/json would then write it. Objects with other than string keys,
// sets and values that need evaluation are not plain; the caller converts
// such an input with ast.JSON first (plainJSON).
func (w *jsonWriter) ast(v ast.Value) {
	if w.err != nil {
		return
	}
	switch v := v.(type) {
	case ast.Null:
		w.b = append(w.b, "null"...)
	case ast.Boolean:
		w.b = appendBool(w.b, bool(v))
	case ast.Number:
		w.b, w.err = appendNumber(w.b, string(v))
	case ast.String:
		w.b = jsonenc.AppendString(w.b, string(v))
	case *ast.Array:
		w.b = append(w.b, '[')
		for i := range v.Len() {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.ast(v.Elem(i).Value)
		}
		w.b = append(w.b, ']')
	case ast.Object:
		// The object iterates in ast order, which for string keys is
		// byte-wise: the order encoding/json sorts map keys in.
		w.b = append(w.b, '{')
		start := len(w.b)
		v.Until(func(k, e *ast.Term) bool {
			s, ok := k.Value.(ast.String)
			if !ok {
				w.err = errNotPlain
				return true
			}
			if len(w.b) > start {
				w.b = append(w.b, ',')
			}
			w.b = jsonenc.AppendString(w.b, string(s))
			w.b = append(w.b, ':')
			w.ast(e.Value)
			return w.err != nil
		})
		w.b = append(w.b, '}')
	default:
		w.err = errNotPlain
	}
}

var errNotPlain = errors.New("audit: a value the record encoder does not take")

// plainJSON reports whether v holds only what appendAST and the mask
// rules take as they are: an input with anything else (sets, objects with
// other keys) goes through ast.JSON first, as OPA's plugin gets it.
func plainJSON(v ast.Value) bool {
	switch v := v.(type) {
	case ast.Null, ast.Boolean, ast.Number, ast.String:
		return true
	case *ast.Array:
		for i := range v.Len() {
			if !plainJSON(v.Elem(i).Value) {
				return false
			}
		}
		return true
	case ast.Object:
		return !v.Until(func(k, e *ast.Term) bool {
			_, ok := k.Value.(ast.String)
			return !ok || !plainJSON(e.Value)
		})
	}
	return false
}

// appendNumber writes a json.Number as encoding/json does: "" is 0, and
// anything that is not a JSON number fails.
func appendNumber(b []byte, s string) ([]byte, error) {
	if s == "" {
		s = "0"
	}
	if !validNumber(s) {
		return b, fmt.Errorf("json: invalid number literal %q", s)
	}
	return append(b, s...), nil
}

// validNumber is encoding/json's isValidNumber.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// appendReflect is encoding/json itself, for a Go type the record never
// holds today: exact by construction, if slow.
func appendReflect(b []byte, x any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return b, err
	}
	return append(b, strings.TrimSuffix(buf.String(), "\n")...), nil
}
