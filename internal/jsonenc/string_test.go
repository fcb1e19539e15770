package jsonenc

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

var odd = []string{"", "plain", "a\"b\\c", "\b\f\n\r\t", "\x00\x1f\x7f", "<&>", "\u2028\u2029", "\xff\xc3", "a\xe2\x80", "日本\U0001F600", "\ufffd"}

func randomString(r *rand.Rand) string {
	var sb strings.Builder
	for range r.IntN(12) {
		switch r.IntN(4) {
		case 0:
			sb.WriteByte(byte(r.IntN(256)))
		case 1:
			sb.WriteRune(rune(r.IntN(0x30000)))
		default:
			sb.WriteString(odd[r.IntN(len(odd))])
		}
	}
	return sb.String()
}

// TestAppendStringIsEncodingJSON compares with json.Encoder with HTML
// escaping off, on odd and random strings.
func TestAppendStringIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		s := odd[i%len(odd)]
		if i >= len(odd) {
			s = randomString(r)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want.String())
		}
	}
}

// TestAppendSlogEscapedIsSlog compares with slog's JSONHandler writing s as
// a message.
func TestAppendSlogEscapedIsSlog(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		s := odd[i%len(odd)]
		if i >= len(odd) {
			s = randomString(r)
		}
		var out bytes.Buffer
		slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
				return slog.Attr{}
			}
			return a
		}})).Info(s)
		want := strings.TrimSuffix(strings.TrimPrefix(out.String(), `{"msg":"`), "\"}\n")
		if got := AppendSlogEscaped(nil, s); string(got) != want {
			t.Fatalf("%q: got %s, slog %s", s, got, want)
		}
	}
}
