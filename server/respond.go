package server

import (
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/signgate/signgate/internal/jsonenc"
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
	b = jsonenc.AppendString(b, r.URL)
	b = append(b, `,"method":`...)
	b = jsonenc.AppendString(b, r.Method)
	b = append(b, `,"headers":`...)
	b = appendStringMap(b, r.Headers)
	b = append(b, `,"expires_at":"`...)
	b, err := r.ExpiresAt.AppendText(b)
	if err != nil {
		return b, false
	}
	b = append(b, `","decision_id":`...)
	b = jsonenc.AppendString(b, r.DecisionID)
	b = append(b, `,"provider":`...)
	b = jsonenc.AppendString(b, r.Provider)
	b = append(b, `,"bucket":`...)
	b = jsonenc.AppendString(b, r.Bucket)
	b = append(b, `,"key":`...)
	b = jsonenc.AppendString(b, r.Key)
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":`...)
		b = appendStringMap(b, r.Fields)
	}
	if r.ExpiryClampedBy != "" {
		b = append(b, `,"expiry_clamped_by":`...)
		b = jsonenc.AppendString(b, r.ExpiryClampedBy)
	}
	if len(r.UnenforcedConstraints) > 0 {
		b = append(b, `,"unenforced_constraints":`...)
		b = appendStrings(b, r.UnenforcedConstraints)
	}
	if r.Network != nil {
		b = append(b, `,"network":{"ip_range":`...)
		b = jsonenc.AppendString(b, r.Network.IPRange)
		b = append(b, `,"enforced_by":`...)
		b = jsonenc.AppendString(b, r.Network.EnforcedBy)
		b = append(b, '}')
	}
	return append(b, "}\n"...), true
}

// appendJSON appends p as encoding/json encodes it, with its newline.
func (p *problemDetails) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = jsonenc.AppendString(b, p.Type)
	b = append(b, `,"title":`...)
	b = jsonenc.AppendString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	if p.Detail != "" {
		b = append(b, `,"detail":`...)
		b = jsonenc.AppendString(b, p.Detail)
	}
	b = append(b, `,"code":`...)
	b = jsonenc.AppendString(b, p.Code)
	if len(p.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = appendStrings(b, p.Reasons)
	}
	if p.DecisionID != "" {
		b = append(b, `,"decision_id":`...)
		b = jsonenc.AppendString(b, p.DecisionID)
	}
	if p.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = jsonenc.AppendString(b, p.RequestID)
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
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = jsonenc.AppendString(b, v)
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
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, m[k])
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
		b = jsonenc.AppendString(b, v)
	}
	return append(b, ']')
}
