package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// slowAccepts is what decodeJSON did before keysPlain: the body goes on
// to json.Unmarshal only when this holds. (A body that the walk's
// json.Decoder cannot read, such as a number beyond float64, is left to
// json.Unmarshal to judge.)
func slowAccepts(body []byte, t reflect.Type) bool {
	if !utf8.Valid(body) || len(bytes.TrimSpace(body)) == 0 {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	switch err := checkKeys(dec, t, ""); {
	case errors.Is(err, errNotJSON):
		return true
	case err != nil:
		return false
	}
	return len(bytes.TrimSpace(body[dec.InputOffset():])) == 0
}

var requestTypes = []reflect.Type{
	reflect.TypeFor[*signRequest](), reflect.TypeFor[*decideAsRequest](),
	reflect.TypeFor[*batchRequest](), reflect.TypeFor[*uploadRequest](),
}

// randomBody is a JSON-ish body: mostly well-formed objects with the
// request types' keys, sometimes with unknown, repeated, differently cased
// or escaped keys, odd values, and sometimes broken.
func randomBody(rng *rand.Rand) []byte {
	var b strings.Builder
	randomObject(rng, &b, 0)
	s := b.String()
	switch rng.IntN(8) {
	case 0:
		if len(s) > 0 {
			s = s[:rng.IntN(len(s))] // truncated
		}
	case 1:
		i := rng.IntN(len(s) + 1)
		s = s[:i] + string(" ,:{}[]\"x\\"[rng.IntN(10)]) + s[i:] // one stray byte
	case 2:
		s += []string{" ", "\n", "{}", " x", "\t1"}[rng.IntN(5)] // trailing
	}
	return []byte(s)
}

var bodyKeys = []string{
	"team", "operation", "object", "expires_in", "content_type", "form", "items", "subject", "source",
	"size", "part_size", "time", "id", "teams", "auth_method", "claims", "ip", "user_agent",
	"Team", "TEAM", `te\u0061m`, `te\"am`, "unknown", "", "tëam",
}

func randomObject(rng *rand.Rand, b *strings.Builder, depth int) {
	b.WriteString("{")
	for i := range rng.IntN(6) {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + bodyKeys[rng.IntN(len(bodyKeys))] + `"`)
		b.WriteString([]string{":", " : ", ":\n"}[rng.IntN(3)])
		randomValue(rng, b, depth+1)
	}
	b.WriteString("}")
}

func randomValue(rng *rand.Rand, b *strings.Builder, depth int) {
	n := 9
	if depth > 3 {
		n = 6
	}
	switch rng.IntN(n) {
	case 0:
		b.WriteString(`"vision"`)
	case 1:
		b.WriteString(`"a\"b\\c\u00e9\n"`)
	case 2:
		b.WriteString([]string{"900", "-1", "1e400", "0.5", "12345678901234567890"}[rng.IntN(5)])
	case 3:
		b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
	case 4:
		b.WriteString(`"ʕ•ᴥ•ʔ \u2028"`)
	case 5:
		b.WriteString(`""`)
	case 6, 7:
		randomObject(rng, b, depth)
	case 8:
		b.WriteString("[")
		for i := range rng.IntN(3) {
			if i > 0 {
				b.WriteString(", ")
			}
			randomValue(rng, b, depth+1)
		}
		b.WriteString("]")
	}
}

// TestKeysPlainNeverAcceptsMore checks the fast path against the walk it
// short-cuts: whatever keysPlain lets through, the old walk let through
// too, so every body gets the answer it got before. It also checks that
// the fast path takes the common bodies and that both outcomes occur.
func TestKeysPlainNeverAcceptsMore(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	const n = 20000
	var fast, slowOnly, refused int
	for range n {
		body := randomBody(rng)
		for _, typ := range requestTypes {
			// decodeJSON refuses invalid UTF-8 before it asks keysPlain.
			plain, slow := utf8.Valid(body) && keysPlain(body, typ), slowAccepts(body, typ)
			switch {
			case plain && !slow:
				t.Fatalf("keysPlain accepts %q as %v, the walk does not", body, typ)
			case plain:
				fast++
			case slow:
				slowOnly++
			default:
				refused++
			}
		}
	}
	t.Logf("%d fast, %d slow only, %d refused", fast, slowOnly, refused)
	if fast < n/20 || refused < n/20 {
		t.Fatalf("the bodies did not reach both outcomes: %d fast, %d slow only, %d refused", fast, slowOnly, refused)
	}
	for _, body := range []string{
		`{"team":"vision","operation":"read","object":"runs/42/model.pt","expires_in":900}`,
		" \n{\"team\":\"a\\\"b\",\"form\":true, \"content_type\" : \"text/plain\"}\n",
		`{"items":[{"team":"vision","operation":"read","object":"a"},{"team":"nlp","operation":"read","object":"b"}]}`,
	} {
		if !keysPlain([]byte(body), reflect.TypeFor[*signRequest]()) && !keysPlain([]byte(body), reflect.TypeFor[*batchRequest]()) {
			t.Errorf("keysPlain refuses the common body %s", body)
		}
	}
}

func FuzzKeysPlain(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		f.Add(randomBody(rng))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range requestTypes {
			if utf8.Valid(body) && keysPlain(body, typ) && !slowAccepts(body, typ) {
				t.Fatalf("keysPlain accepts %q as %v, the walk does not", body, typ)
			}
		}
	})
}

// TestDecodeReusesNoBody decodes twice in a row: the second body, read
// into the first one's recycled buffer, must not change what the first
// decoded.
func TestDecodeReusesNoBody(t *testing.T) {
	var first, second signRequest
	for _, c := range []struct {
		body string
		dst  *signRequest
	}{
		{`{"team":"vision","operation":"read","object":"first"}`, &first},
		{`{"team":"XXXXXX","operation":"XXXX","object":"XXXXX"}`, &second},
	} {
		r := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(c.body))
		r.Header.Set("Content-Type", "application/json")
		if err := decodeJSON(httptest.NewRecorder(), r, 1<<20, c.dst); err != nil {
			t.Fatal(err)
		}
	}
	if first.Team != "vision" || first.Operation != "read" || first.Object != "first" {
		t.Errorf("first request changed to %+v", first)
	}
}

// TestDecodeContentTypes: application/json is taken as is, any other
// spelling of it is parsed, and everything else is a 415.
func TestDecodeContentTypes(t *testing.T) {
	tests := []struct {
		givenType  string
		wantStatus int // 0: decoded
	}{
		{givenType: "application/json"},
		{givenType: "application/json; charset=utf-8"},
		{givenType: "Application/JSON"},
		{givenType: "", wantStatus: 415},
		{givenType: "text/plain", wantStatus: 415},
		{givenType: "application/json;", wantStatus: 0},
		{givenType: "application/json; charset", wantStatus: 415},
		{givenType: "application/jsonx", wantStatus: 415},
	}
	for _, tc := range tests {
		t.Run(tc.givenType, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(`{"team":"vision"}`))
			r.Header.Set("Content-Type", tc.givenType)
			var dst signRequest
			err := decodeJSON(httptest.NewRecorder(), r, 1<<20, &dst)
			var ae *apiError
			switch {
			case tc.wantStatus == 0 && (err != nil || dst.Team != "vision"):
				t.Errorf("err %v, team %q", err, dst.Team)
			case tc.wantStatus != 0 && (!errors.As(err, &ae) || ae.Problem.Status != tc.wantStatus):
				t.Errorf("err %v, want a %d problem", err, tc.wantStatus)
			}
		})
	}
}
