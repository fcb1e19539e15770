package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// decodeJSON reads exactly one JSON object into dst, a pointer to a
// request struct, with a size limit. It is strict where encoding/json is
// lenient, so that signgate and anything in front of it (a proxy, a WAF)
// can never read the same body differently: the Content-Type must be
// application/json, field names match exactly (case-sensitive), no object
// repeats a field, unknown fields and trailing data are refused.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" { // the common case needs no parsing
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return problem(http.StatusUnsupportedMediaType, codeInvalidRequest, "Content-Type must be application/json", nil)
		}
	}
	buf, err := readBody(http.MaxBytesReader(w, r.Body, limit))
	defer releaseBody(buf)
	if err != nil {
		return jsonProblem(err, limit)
	}
	body := buf.Bytes()
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		return invalid("request body is not valid UTF-8")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("request body is empty")
	}
	// The common case, a well-formed body with known keys, is checked
	// without allocating (decode_keys.go); anything else takes the walk
	// below, which says what is wrong.
	if keysPlain(body, reflect.TypeOf(dst)) {
		if r, ok := dst.(*signRequest); ok && decodePlain(body, r) { // decode_sign.go
			return nil
		}
		if err := json.Unmarshal(body, dst); err != nil {
			return jsonProblem(err, limit)
		}
		return nil
	}
	// One walk checks the keys and finds where the first value ends; one
	// json.Unmarshal then decodes it (which scans it whole first, so a
	// syntax error is found before anything is stored).
	dec := json.NewDecoder(bytes.NewReader(body))
	err = checkKeys(dec, reflect.TypeOf(dst), "")
	switch {
	case err != nil && !errors.Is(err, errNotJSON):
		return err
	case err == nil:
		if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
			return invalid("body must hold exactly one JSON object")
		}
	}
	// checkKeys refused unknown fields already.
	if err := json.Unmarshal(body, dst); err != nil {
		return jsonProblem(err, limit)
	}
	return nil
}

// errNotJSON stops checkKeys on a body that is no JSON; json.Decode then
// says what is wrong with it.
var errNotJSON = errors.New("not JSON")

// checkKeys walks the next JSON value of dec as a value of type t: every
// object key must name a field of t exactly, once. Values of types that
// are not structs are walked for repeated keys only.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return errNotJSON
	}
	switch tok {
	case json.Delim('{'):
		fields := jsonFields(t)
		var seenBuf [16]string // request objects have a handful of fields
		seen := seenBuf[:0]
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return errNotJSON
			}
			key, _ := kt.(string)
			name := joinPath(path, key)
			if slices.Contains(seen, key) {
				return invalid(fmt.Sprintf("field %q appears more than once", name))
			}
			seen = append(seen, key)
			ft, known := fields[key]
			if fields != nil && !known {
				return invalid(fmt.Sprintf("unknown field %q", name))
			}
			if err := checkKeys(dec, ft, name); err != nil {
				return err
			}
		}
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkKeys(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return errNotJSON
	}
	return nil
}

// fieldsOf caches jsonFields per request type: the map is read only.
var fieldsOf sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields to their types; nil
// for anything but a struct. The map is shared: never modify it.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := fieldsOf.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f := structFields(t)
	fieldsOf.Store(t, f)
	return f
}

func structFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		// encoding/json promotes the exported fields of an embedded
		// struct even when its type is unexported.
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "":
			for n, ft := range jsonFields(f.Type) {
				fields[n] = ft
			}
			continue
		case name == "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonProblem(err error, limit int64) *apiError {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return problem(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("request body exceeds %d bytes", limit), nil)
	case errors.As(err, &se) && se.Error() == "unexpected end of JSON input":
		return invalid("request body is truncated JSON")
	case errors.As(err, &se):
		return invalid(fmt.Sprintf("malformed JSON at byte %d", se.Offset))
	case errors.As(err, &te):
		if te.Field == "" {
			return invalid("body must be a JSON object")
		}
		return invalid(fmt.Sprintf("field %q must be %s", te.Field, jsonKind(te.Type)))
	case errors.Is(err, io.EOF):
		return invalid("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("request body is truncated JSON")
	}
	return invalid("request body is not valid JSON")
}

// jsonKind names what a field of type t takes, in JSON's terms.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
