package server

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// The answers of /v1/sign and every problem are written with append-style
// encoders into pooled buffers: the same bytes as encoding/json with HTML
// escaping off (jsonSerializer), without its reflection and allocations.
// respond_test.go compares the two on random values.

var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledResp keeps one large answer from pinning its buffer.
const maxPooledResp = 64 << 10

// Content-Type values, shared by every response: net/http only reads a
// header's values, and an append to a full slice copies it.
var (
	contentTypeJSON    = []string{echo.MIMEApplicationJSON}
	contentTypeProblem = []string{"application/problem+json"}
)

// writeJSON answers code with v as c.JSON does. A *signResponse is encoded
// by its own encoder unless the caller asked for indented output (a query
// such as ?pretty, or Echo's debug mode), which c.JSON then writes.
func writeJSON(c echo.Context, code int, v any) error {
	r, ok := v.(*signResponse)
	if !ok || c.Echo().Debug || c.Request().URL.RawQuery != "" {
		return c.JSON(code, v)
	}
	bp := respBufs.Get().(*[]byte)
	defer releaseResp(bp)
	b, ok := r.appendJSON((*bp)[:0])
	if !ok {
		return c.JSON(code, v) // encoding/json says what it cannot encode
	}
	*bp = b
	h := c.Response().Header()
	if h.Get(echo.HeaderContentType) == "" {
		h[echo.HeaderContentType] = contentTypeJSON
	}
	return c.Blob(code, echo.MIMEApplicationJSON, b)
}

func releaseResp(bp *[]byte) {
	if cap(*bp) <= maxPooledResp {
		*bp = (*bp)[:0]
		respBufs.Put(bp)
	}
}

// appendJSON appends r as encoding/json encodes it, with its newline. It
// is not ok when encoding/json would fail: an expiry beyond year 9999.
func (r *signResponse) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"url":`...)
	b = appendJSONString(b, r.URL)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"headers":`...)
	b = appendStringMap(b, r.Headers)
	b = append(b, `,"expires_at":"`...)
	b, err := r.ExpiresAt.AppendText(b)
	if err != nil {
		return b, false
	}
	b = append(b, `","decision_id":`...)
	b = appendJSONString(b, r.DecisionID)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, r.Provider)
	b = append(b, `,"bucket":`...)
	b = appendJSONString(b, r.Bucket)
	b = append(b, `,"key":`...)
	b = appendJSONString(b, r.Key)
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":`...)
		b = appendStringMap(b, r.Fields)
	}
	if r.ExpiryClampedBy != "" {
		b = append(b, `,"expiry_clamped_by":`...)
		b = appendJSONString(b, r.ExpiryClampedBy)
	}
	if len(r.UnenforcedConstraints) > 0 {
		b = append(b, `,"unenforced_constraints":`...)
		b = appendStrings(b, r.UnenforcedConstraints)
	}
	if r.Network != nil {
		b = append(b, `,"network":{"ip_range":`...)
		b = appendJSONString(b, r.Network.IPRange)
		b = append(b, `,"enforced_by":`...)
		b = appendJSONString(b, r.Network.EnforcedBy)
		b = append(b, '}')
	}
	return append(b, "}\n"...), true
}

// appendJSON appends p as encoding/json encodes it, with its newline.
func (p *problemDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, p.Type)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, p.Detail)
	}
	b = append(b, `,"code":`...)
	b = appendJSONString(b, p.Code)
	if len(p.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = appendStrings(b, p.Reasons)
	}
	if p.DecisionID != "" {
		b = append(b, `,"decision_id":`...)
		b = appendJSONString(b, p.DecisionID)
	}
	if p.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, p.RequestID)
	}
	return append(b, "}\n"...)
}

// writeProblem writes p as the body of a problem response.
func writeProblem(w http.ResponseWriter, p *problemDetails) {
	bp := respBufs.Get().(*[]byte)
	defer releaseResp(bp)
	*bp = p.appendJSON((*bp)[:0])
	_, _ = w.Write(*bp)
}

// appendStringMap appends m as a JSON object with sorted keys; nil is null.
func appendStringMap(b []byte, m map[string]string) []byte {
	switch len(m) {
	case 0:
		if m == nil {
			return append(b, "null"...)
		}
		return append(b, "{}"...)
	case 1:
		for k, v := range m {
			b = append(b, '{')
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v)
			return append(b, '}')
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendStrings appends s as a JSON array; nil is null.
func appendStrings(b []byte, s []string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it without
// HTML escaping: '"' and '\' escaped, control characters as \b \f \n \r
// \t or \u00XX, invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
