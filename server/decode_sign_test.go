package server

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// signBody is a body of /v1/sign's shape whose values are of every kind:
// plain and escaped strings, integers in and out of int64, fractions,
// exponents, null, booleans and the wrong kinds.
func signBody(rng *rand.Rand) string {
	values := map[string][]string{
		"team":         {`"vision"`, `"vi\"sion"`, `"\u00e9"`, `"日本"`, `""`, `null`, `7`, `true`},
		"operation":    {`"read"`, `"write"`, `"delete"`, `null`, `["read"]`},
		"object":       {`"runs/42/model.pt"`, `"a\/b"`, `"ʕ•ᴥ•ʔ"`, `"\ud83d\ude00"`, `{}`, `"x\u2028y"`},
		"expires_in":   {`900`, `-1`, `0`, `-0`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775809`, `1.5`, `1e3`, `1E3`, `null`, `"900"`},
		"content_type": {`"text/plain"`, `"a\tb"`, `null`, `1`},
		"form":         {`true`, `false`, `null`, `"true"`, `0`},
	}
	keys := []string{"team", "operation", "object", "expires_in", "content_type", "form"}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	var b strings.Builder
	b.WriteString([]string{"{", " {\n", "\t{ "}[rng.IntN(3)])
	for i, k := range keys[:rng.IntN(len(keys)+1)] {
		if i > 0 {
			b.WriteString([]string{",", " , ", ",\n"}[rng.IntN(3)])
		}
		vs := values[k]
		b.WriteString(`"` + k + `"` + []string{":", " : "}[rng.IntN(2)] + vs[rng.IntN(len(vs))])
	}
	b.WriteString([]string{"}", " }", "}\n"}[rng.IntN(3)])
	return b.String()
}

func decodeAs(t *testing.T, body string, dst any) (string, error) {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	err := decodeJSON(httptest.NewRecorder(), r, 1<<20, dst)
	var ae *apiError
	if err != nil && !errors.As(err, &ae) {
		t.Fatalf("%q: %v is no API error", body, err)
	}
	if ae != nil {
		return ae.Problem.Detail, err
	}
	return "", nil
}

// unmarshalAs is decodeAs with json.Unmarshal where decodeJSON would ask
// decodePlain.
func unmarshalAs(t *testing.T, body string, dst *signRequest) (string, error) {
	t.Helper()
	b := []byte(body)
	if !utf8.Valid(b) || !keysPlain(b, reflect.TypeOf(dst)) {
		return decodeAs(t, body, dst) // decodeJSON's slow path: no decodePlain
	}
	if err := json.Unmarshal(b, dst); err != nil {
		pe := jsonProblem(err, 1<<20)
		return pe.Problem.Detail, pe
	}
	return "", nil
}

// TestDecodePlainAsUnmarshal: /v1/sign's own decoder gives every body
// the request, or the answer, that json.Unmarshal gives it, and takes the
// plain bodies itself.
func TestDecodePlainAsUnmarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 9))
	const n = 20000
	var plain, other int
	for i := range n {
		body := signBody(rng)
		if i%4 == 0 {
			body = string(randomBody(rng))
		}
		var got, want signRequest
		gotDetail, gotErr := decodeAs(t, body, &got)
		wantDetail, wantErr := unmarshalAs(t, body, &want)
		if gotDetail != wantDetail || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: got %q (%v), want %q (%v)", body, gotDetail, gotErr, wantDetail, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v, want %+v", body, got, want)
		}
		var fresh signRequest
		if keysPlain([]byte(body), reflect.TypeFor[*signRequest]()) && decodePlain([]byte(body), &fresh) {
			plain++
		} else {
			other++
		}
	}
	if plain < n/10 || other < n/10 {
		t.Fatalf("the bodies did not reach both decoders: %d plain, %d other", plain, other)
	}
}

func FuzzDecodePlain(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		f.Add(signBody(rng))
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got, want signRequest
		gotDetail, gotErr := decodeAs(t, body, &got)
		wantDetail, wantErr := unmarshalAs(t, body, &want)
		if gotDetail != wantDetail || (gotErr == nil) != (wantErr == nil) || gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v %q, want %+v %q", body, got, gotDetail, want, wantDetail)
		}
	})
}
