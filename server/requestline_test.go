package server

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// slogLine is the line slog's JSON handler writes for the info record
// "request" at t with attrs.
func slogLine(t *testing.T, at time.Time, attrs []slog.Attr) string {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestRequestLineIsSlogs: the request line encoded without slog is, byte
// for byte, the line slog's JSON handler writes for the same time and
// attributes, escapes and number formats included.
func TestRequestLineIsSlogs(t *testing.T) {
	at := time.Date(2026, 11, 30, 17, 39, 18, 532081209, time.UTC)
	tests := []struct {
		name       string
		givenTime  time.Time
		givenAttrs []slog.Attr
	}{
		{name: "a decided request", givenTime: at, givenAttrs: []slog.Attr{
			slog.String("request_id", "3762be07-d9d2-48b9-bc71-95e5a3231759"), slog.String("method", "POST"), slog.String("route", "/v1/sign"),
			slog.Int("status", 200), slog.Float64("latency_ms", 0.056), slog.String("subject", "bench"), slog.String("decision_id", "2a44a997")}},
		{name: "a time with whole seconds and another zone", givenTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -5*3600)),
			givenAttrs: []slog.Attr{slog.Int("status", 404), slog.Float64("latency_ms", 0)}},
		{name: "strings that need escaping", givenTime: at, givenAttrs: []slog.Attr{
			slog.String("request_id", "a \"b\"\\ \n\r\t\x00\x1f\x7f <&> é \u2028\u2029 \xff\xfe end"), slog.String("subject", "")}},
		{name: "floats as encoding/json writes them", givenTime: at, givenAttrs: []slog.Attr{
			slog.Float64("a", 123456789000), slog.Float64("b", 1e-7), slog.Float64("c", 1e21), slog.Float64("d", -0.5),
			slog.Float64("e", 1e-10), slog.Float64("f", 0.001), slog.Float64("g", 1.5e300)}},
		{name: "negative and large integers", givenTime: at, givenAttrs: []slog.Attr{slog.Int("a", -1), slog.Int64("b", 1<<62)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := appendRequestLine(nil, tc.givenTime, tc.givenAttrs)
			if !ok {
				t.Fatal("the line was refused")
			}
			if want := slogLine(t, tc.givenTime, tc.givenAttrs); string(got) != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestRequestLineRandomStrings: random strings, valid UTF-8 or not, are
// escaped as slog escapes them.
func TestRequestLineRandomStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 1))
	alphabet := []string{"a", "\"", "\\", "\n", "\x01", "\x7f", "<", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", " "}
	const n = 2000
	ran := 0
	for range n {
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		attrs := []slog.Attr{slog.String("request_id", sb.String()), slog.Float64("latency_ms", float64(rng.IntN(1e9))/1000)}
		at := time.Unix(rng.Int64N(1e10), rng.Int64N(1e9))
		got, ok := appendRequestLine(nil, at, attrs)
		if !ok {
			t.Fatal("the line was refused")
		}
		if want := slogLine(t, at, attrs); string(got) != want {
			t.Fatalf("%q:\ngot  %s\nwant %s", sb.String(), got, want)
		}
		ran++
	}
	if ran != n {
		t.Fatalf("ran %d of %d cases", ran, n)
	}
}

// TestRequestLineLeavesTheRestToSlog: what the encoder does not write
// itself (another kind of value, a year RFC 3339 cannot carry) is refused,
// and logRequest then logs through slog.
func TestRequestLineLeavesTheRestToSlog(t *testing.T) {
	for name, tc := range map[string]struct {
		at    time.Time
		attrs []slog.Attr
	}{
		"a bool":         {at: time.Now(), attrs: []slog.Attr{slog.Bool("b", true)}},
		"an empty key":   {at: time.Now(), attrs: []slog.Attr{slog.String("", "x")}},
		"the year 10000": {at: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), attrs: nil},
	} {
		var out bytes.Buffer
		if writeRequestLine(&out, tc.at, tc.attrs) || out.Len() != 0 {
			t.Errorf("%s: written %q", name, out.String())
		}
	}
}

// TestRequestLogWritesToTheJSONWriter: with WithRequestLogJSON the line
// goes to that writer, equal to the logger's own line but for the time,
// and not through the logger; above info, nothing is written.
func TestRequestLogWritesToTheJSONWriter(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		var direct, viaLogger, want bytes.Buffer
		c := echo.New().NewContext(httptest.NewRequest("POST", "/v1/sign", nil), httptest.NewRecorder())
		c.SetPath("/v1/sign")
		c.Response().Header().Set(echo.HeaderXRequestID, "req-1")
		c.Response().Status = 200
		c.Set(principalKey, Principal{ID: "alice", AuthMethod: "api_key"})
		c.Set(decisionKey, &decision{id: "d-1", decided: true})
		s := &Server{log: slog.New(slog.NewJSONHandler(&viaLogger, &slog.HandlerOptions{Level: level})), requestLogJSON: &direct}
		s.logRequest(c, 1234*time.Microsecond)
		if viaLogger.Len() != 0 {
			t.Errorf("level %v: the logger got %q", level, viaLogger.String())
		}
		if level > slog.LevelInfo {
			if direct.Len() != 0 {
				t.Errorf("level %v: written %q", level, direct.String())
			}
			continue
		}
		(&Server{log: slog.New(slog.NewJSONHandler(&want, &slog.HandlerOptions{ReplaceAttr: noTime}))}).logRequest(c, 1234*time.Microsecond)
		got := direct.String()
		i := strings.Index(got, `"level"`)
		if !strings.HasPrefix(got, `{"time":"`) || i < 0 || "{"+got[i:] != want.String() {
			t.Errorf("got  %s\nwant %s", got, want.String())
		}
	}
}

// BenchmarkRequestLog: one request line through the logger's JSON
// handler and written directly, to the same buffered writer.
func BenchmarkRequestLog(b *testing.B) {
	c := echo.New().NewContext(httptest.NewRequest("POST", "/v1/sign", nil), httptest.NewRecorder())
	c.SetPath("/v1/sign")
	c.Response().Header().Set(echo.HeaderXRequestID, "3762be07-d9d2-48b9-bc71-95e5a3231759")
	c.Response().Status = 200
	c.Set(principalKey, Principal{ID: "bench", AuthMethod: "api_key"})
	c.Set(decisionKey, &decision{id: "2a44a997-5f7c-445b-bf27-b74894c5682b", decided: true})
	for _, direct := range []bool{false, true} {
		b.Run(map[bool]string{false: "slog", true: "direct"}[direct], func(b *testing.B) {
			var out bytes.Buffer
			s := &Server{log: slog.New(slog.NewJSONHandler(&out, nil))}
			if direct {
				s.requestLogJSON = &out
			}
			b.ReportAllocs()
			for b.Loop() {
				s.logRequest(c, 56*time.Microsecond)
				out.Reset()
			}
		})
	}
}
