package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestRequestLogLineUnchanged: the request line written with typed
// attributes is, byte for byte, the line Logger.Info wrote with the same
// keys and values, in the JSON and the text format.
func TestRequestLogLineUnchanged(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	formats := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		},
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		},
	}
	tests := []struct {
		name         string
		givenSubject string
		givenDecided string
		givenLatency time.Duration
		givenStatus  int
	}{
		{name: "a decided request", givenSubject: "alice", givenDecided: "0b7f6f5e-3f0c-4a53-9b7e-0e1a5e9f4a11", givenLatency: 1234567 * time.Nanosecond, givenStatus: 200},
		{name: "an unauthenticated request", givenLatency: 42 * time.Microsecond, givenStatus: 401},
		{name: "a subject with quotes and a newline", givenSubject: "a \"b\"\nc=d", givenLatency: 3 * time.Second, givenStatus: 403},
		{name: "a request without a decision", givenSubject: "bob", givenLatency: 0, givenStatus: 404},
		{name: "a slow request", givenSubject: "bob", givenDecided: "x", givenLatency: 123456789 * time.Millisecond, givenStatus: 503},
	}
	for format, handler := range formats {
		for _, tc := range tests {
			t.Run(format+": "+tc.name, func(t *testing.T) {
				var got, want bytes.Buffer
				c := echo.New().NewContext(httptest.NewRequest("POST", "/v1/sign", nil), httptest.NewRecorder())
				c.SetPath("/v1/sign")
				c.Response().Header().Set(echo.HeaderXRequestID, "req-1")
				c.Response().Status = tc.givenStatus
				if tc.givenSubject != "" {
					c.Set(principalKey, Principal{ID: tc.givenSubject, AuthMethod: "api_key"})
				}
				if tc.givenDecided != "" {
					c.Set(decisionKey, &decision{id: tc.givenDecided, decided: true})
				}
				(&Server{log: slog.New(handler(&got))}).logRequest(c, tc.givenLatency)

				attrs := []any{"request_id", "req-1", "method", "POST", "route", "/v1/sign", "status", tc.givenStatus,
					"latency_ms", float64(tc.givenLatency.Microseconds()) / 1000}
				if tc.givenSubject != "" {
					attrs = append(attrs, "subject", tc.givenSubject)
				}
				if tc.givenDecided != "" {
					attrs = append(attrs, "decision_id", tc.givenDecided)
				}
				slog.New(handler(&want)).Info("request", attrs...)
				if got.String() != want.String() {
					t.Errorf("got  %s\nwant %s", got.String(), want.String())
				}
			})
		}
	}
}

// TestRequestLogHonoursLevel: above info, no request line is written.
func TestRequestLogHonoursLevel(t *testing.T) {
	var out bytes.Buffer
	c := echo.New().NewContext(httptest.NewRequest("GET", "/healthz", nil), httptest.NewRecorder())
	s := &Server{log: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	s.logRequest(c, time.Millisecond)
	if out.Len() != 0 {
		t.Errorf("a warn-level log got the request line %s", out.String())
	}
}
