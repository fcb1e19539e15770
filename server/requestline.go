package server

import (
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/signgate/signgate/internal/jsonenc"
)

// WithRequestLogJSON writes the request lines straight to w, encoded as
// slog's JSONHandler encodes them, instead of through the logger's
// handler. It is for a logger whose handler is a slog.JSONHandler on w
// with no options but a level, no attributes and no groups: the lines are
// then byte for byte what that handler wrote, at about a third of its
// cost (slog formats a float through encoding/json). The logger still
// decides whether info lines are written. Each line is one Write call.
func WithRequestLogJSON(w io.Writer) Option { return func(s *Server) { s.requestLogJSON = w } }

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeRequestLine writes one "request" line with attrs to w. It reports
// false, having written nothing, when the line needs what it does not
// encode itself (a kind of value other than string, int and float, or a
// time slog reports as an error); the caller then logs through slog.
func writeRequestLine(w io.Writer, t time.Time, attrs []slog.Attr) bool {
	if y := t.Year(); y < 0 || y >= 10000 {
		return false
	}
	bp := lineBufs.Get().(*[]byte)
	defer lineBufs.Put(bp)
	b, ok := appendRequestLine((*bp)[:0], t, attrs)
	if ok {
		_, _ = w.Write(b)
	}
	if cap(b) <= 4<<10 {
		*bp = b[:0]
	}
	return ok
}

// appendRequestLine appends the JSON line slog.JSONHandler writes for an
// info record "request" at t with attrs.
func appendRequestLine(b []byte, t time.Time, attrs []slog.Attr) ([]byte, bool) {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request"`...)
	for _, a := range attrs {
		if a.Key == "" {
			return b, false // slog's rules for an empty attribute are left to slog
		}
		b = append(b, ',', '"')
		b = jsonenc.AppendSlogEscaped(b, a.Key)
		b = append(b, '"', ':')
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			b = append(b, '"')
			b = jsonenc.AppendSlogEscaped(b, v.String())
			b = append(b, '"')
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindFloat64:
			f := v.Float64()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return b, false
			}
			b = appendJSONFloat(b, f)
		default:
			return b, false
		}
	}
	return append(b, '}', '\n'), true
}

// appendJSONFloat formats f as encoding/json does, which is what slog
// calls for a float.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
