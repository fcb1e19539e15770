package server

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"sync"
)

// bodyBufs recycles request-body buffers: a body is decoded into its
// request struct, which copies every string, so no buffer outlives it.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps one huge batch body from pinning its buffer.
const maxPooledBody = 256 << 10

// readBody reads r whole into a pooled buffer; hand it back with
// releaseBody once nothing refers to its bytes.
func readBody(r io.Reader) (*bytes.Buffer, error) {
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(r)
	return buf, err
}

func releaseBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		bodyBufs.Put(buf)
	}
}

// keysPlain reports whether body, valid UTF-8, is one valid JSON object whose keys all
// pass checkKeys for type t: each names a field of t exactly, none repeats,
// at every level. It never allocates. It answers false for anything else,
// including what checkKeys would accept but that it does not handle (an
// escaped key), so that false only means "take the slow path", which then
// says what is wrong; true always means checkKeys would pass and no data
// trails the object.
func keysPlain(body []byte, t reflect.Type) bool {
	if !json.Valid(body) { // one value, nothing but white space around it
		return false
	}
	w := keyWalker{b: body}
	w.space()
	if w.i >= len(w.b) || w.b[w.i] != '{' {
		return false // json.Unmarshal says why it is no object
	}
	return w.value(t)
}

// keyWalker walks JSON that json.Valid accepted.
type keyWalker struct {
	b []byte
	i int
}

func (w *keyWalker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// value walks the value at w.i as a value of type t, as checkKeys does.
func (w *keyWalker) value(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch w.b[w.i] {
	case '{':
		return w.object(t)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		w.i++
		w.space()
		if w.b[w.i] == ']' {
			w.i++
			return true
		}
		for {
			w.space()
			if !w.value(elem) {
				return false
			}
			w.space()
			if w.b[w.i] == ']' {
				w.i++
				return true
			}
			w.i++ // ','
		}
	case '"':
		w.str() // escapes are fine in a value; only keys must be plain
		return true
	default:
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return true
			}
			w.i++
		}
		return true
	}
}

func (w *keyWalker) object(t reflect.Type) bool {
	fields := jsonFields(t)
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	w.i++
	w.space()
	if w.b[w.i] == '}' {
		w.i++
		return true
	}
	for {
		w.space()
		key, plain := w.str()
		if !plain {
			return false
		}
		for _, s := range seen {
			if bytes.Equal(s, key) {
				return false
			}
		}
		seen = append(seen, key)
		ft, known := fields[string(key)]
		if fields != nil && !known {
			return false
		}
		w.space()
		w.i++ // ':'
		w.space()
		if !w.value(ft) {
			return false
		}
		w.space()
		if w.b[w.i] == '}' {
			w.i++
			return true
		}
		w.i++ // ','
	}
}

// str steps over the string at w.i and returns its contents, and whether
// they hold no escape (so that they are the string itself).
func (w *keyWalker) str() (s []byte, plain bool) {
	w.i++ // '"'
	start, plain := w.i, true
	for {
		switch w.b[w.i] {
		case '\\':
			plain = false
			w.i += 2
			continue
		case '"':
			s = w.b[start:w.i]
			w.i++
			return s, plain
		}
		w.i++
	}
}
