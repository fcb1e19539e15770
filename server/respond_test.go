package server

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// stdJSON is how these answers were encoded before: encoding/json without
// HTML escaping (jsonSerializer).
func stdJSON(t *testing.T, v any) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return buf.Bytes(), err
}

// oddStrings are the strings whose encoding differs most between JSON
// encoders.
var oddStrings = []string{
	"", "plain", `a"b`, `back\slash`, "<script>&amp;</script>", "\x00\x01\x07\x1f", "\b\f\n\r\t", "\x7f",
	"é", "日本語", "🙂", "\u2028\u2029", "\xff", "\xc3", "a\xe2\x82", "\xed\xa0\x80", "\ufffd",
	"http://127.0.0.1:7070/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00ff",
}

func randomString(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return oddStrings[rng.IntN(len(oddStrings))]
	}
	var b strings.Builder
	for range rng.IntN(12) {
		switch rng.IntN(4) {
		case 0:
			b.WriteByte(byte(rng.IntN(256))) // any byte, valid UTF-8 or not
		case 1:
			b.WriteRune(rune(rng.IntN(0x3000)))
		default:
			b.WriteString(oddStrings[rng.IntN(len(oddStrings))])
		}
	}
	return b.String()
}

func randomStrings(rng *rand.Rand) []string {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	s := make([]string, 1+rng.IntN(4))
	for i := range s {
		s[i] = randomString(rng)
	}
	return s
}

func randomMap(rng *rand.Rand) map[string]string {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range 1 + rng.IntN(5) {
		m[randomString(rng)] = randomString(rng)
	}
	return m
}

var zones = []*time.Location{time.UTC, time.FixedZone("", -7*3600), time.FixedZone("X", 5*3600+1800)}

func randomTime(rng *rand.Rand) time.Time {
	sec := rng.Int64N(1 << 36) // about year 1970 to 4147
	if rng.IntN(20) == 0 {
		sec = -rng.Int64N(1 << 40) // before year 0: encoding/json fails
	}
	ns := int64(0)
	if rng.IntN(2) == 0 {
		ns = rng.Int64N(1e9)
	}
	return time.Unix(sec, ns).In(zones[rng.IntN(len(zones))])
}

// TestSignResponseEncodesAsEncodingJSON: the append-style encoder of the
// /v1/sign answer writes exactly what encoding/json wrote, for random
// values, odd strings included, and fails where encoding/json fails.
func TestSignResponseEncodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 7))
	var failed int
	for range 5000 {
		r := &signResponse{
			URL: randomString(rng), Method: randomString(rng), Headers: randomMap(rng),
			ExpiresAt: randomTime(rng), DecisionID: randomString(rng), Provider: randomString(rng),
			Bucket: randomString(rng), Key: randomString(rng), Fields: randomMap(rng),
			ExpiryClampedBy: randomString(rng), UnenforcedConstraints: randomStrings(rng),
		}
		if rng.IntN(2) == 0 {
			r.Network = &networkBinding{IPRange: randomString(rng), EnforcedBy: randomString(rng)}
		}
		want, werr := stdJSON(t, r)
		got, ok := r.appendJSON(nil)
		if werr != nil {
			if ok {
				t.Fatalf("encoding/json fails (%v), appendJSON does not: %s", werr, got)
			}
			failed++
			continue
		}
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("appendJSON of %#v:\n got %q (ok %v)\nwant %q", r, got, ok, want)
		}
	}
	if failed == 0 {
		t.Fatal("no value reached encoding/json's failure")
	}
}

// TestProblemEncodesAsEncodingJSON: the same for problem documents.
func TestProblemEncodesAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 8))
	for range 5000 {
		p := &problemDetails{
			Type: randomString(rng), Title: randomString(rng), Status: rng.IntN(1000) - 100,
			Detail: randomString(rng), Code: randomString(rng), Reasons: randomStrings(rng),
			DecisionID: randomString(rng), RequestID: randomString(rng),
		}
		want, err := stdJSON(t, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON of %#v:\n got %q\nwant %q", p, got, want)
		}
	}
}

// TestWriteJSONAnswersAsEchoJSON: through Echo, the answer has the same
// status, headers and body as c.JSON gave it, and ?pretty still indents.
func TestWriteJSONAnswersAsEchoJSON(t *testing.T) {
	r := &signResponse{URL: "https://h/k?a=1&b=<2>", Method: "GET", Headers: map[string]string{"x-ms-blob-type": "BlockBlob"},
		ExpiresAt: time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC), DecisionID: "d", Provider: "s3", Bucket: "b", Key: "k"}
	e := echo.New()
	e.JSONSerializer = jsonSerializer{}
	for _, target := range []string{"/v1/sign", "/v1/sign?pretty"} {
		answer := func(write func(echo.Context) error) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			if err := write(e.NewContext(httptest.NewRequest("POST", target, nil), rec)); err != nil {
				t.Fatal(err)
			}
			return rec
		}
		got := answer(func(c echo.Context) error { return writeJSON(c, http.StatusOK, r) })
		want := answer(func(c echo.Context) error { return c.JSON(http.StatusOK, r) })
		if got.Code != want.Code || got.Body.String() != want.Body.String() ||
			got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || len(got.Header()) != len(want.Header()) {
			t.Errorf("%s: got %d %v %q, want %d %v %q", target, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
}
