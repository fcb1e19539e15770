package server

import (
	"strconv"
	"strings"
)

// decodePlain decodes body, which keysPlain accepted for *signRequest,
// into r, a zero value, when every value is of the plain kind json.Unmarshal would store
// as is: strings without escapes, integers that fit int64, true or false.
// The strings share one allocation. It reports false, having changed
// nothing, for anything else (null, escapes, fractions, a wrong kind),
// which json.Unmarshal then decodes or refuses as before.
func decodePlain(body []byte, r *signRequest) bool {
	var (
		vals  [6][]byte // team, operation, object, content_type: raw; expires_in, form
		total int
	)
	w := keyWalker{b: body}
	w.space()
	w.i++ // '{'
	w.space()
	if w.b[w.i] == '}' {
		*r = signRequest{}
		return true
	}
	for {
		w.space()
		key, _ := w.str() // keysPlain: plain, known, once
		w.space()
		w.i++ // ':'
		w.space()
		slot := -1
		switch string(key) {
		case "team":
			slot = 0
		case "operation":
			slot = 1
		case "object":
			slot = 2
		case "content_type":
			slot = 3
		case "expires_in":
			slot = 4
		case "form":
			slot = 5
		}
		start := w.i
		switch {
		case slot < 0:
			return false
		case slot < 4:
			if w.b[w.i] != '"' {
				return false
			}
			s, plain := w.str()
			if !plain {
				return false
			}
			vals[slot], total = s, total+len(s)
		default:
			if c := w.b[w.i]; c == '{' || c == '[' || c == '"' {
				return false // expires_in and form are scalars
			}
			for w.i < len(w.b) && !strings.ContainsRune(",} \t\n\r", rune(w.b[w.i])) {
				w.i++
			}
			vals[slot] = w.b[start:w.i]
		}
		w.space()
		if w.b[w.i] == '}' {
			break
		}
		w.i++ // ','
	}
	var out signRequest
	if v := vals[4]; v != nil {
		if !isJSONInt(v) {
			return false
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return false
		}
		out.ExpiresIn = &n
	}
	switch string(vals[5]) {
	case "":
	case "true":
		out.Form = true
	case "false":
	default:
		return false
	}
	var sb strings.Builder
	sb.Grow(total)
	for _, v := range vals[:4] {
		sb.Write(v)
	}
	all, off := sb.String(), 0
	for i, dst := range []*string{&out.Team, &out.Operation, &out.Object, &out.ContentType} {
		*dst = all[off : off+len(vals[i])]
		off += len(vals[i])
	}
	*r = out
	return true
}

// isJSONInt reports whether v is a JSON number without fraction or
// exponent: what json.Unmarshal stores in an int64 when it fits.
func isJSONInt(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
