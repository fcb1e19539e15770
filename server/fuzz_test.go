package server_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/signgate/signgate/server"
)

// FuzzValidateKey checks that every key ValidateKey accepts really has
// none of the properties it promises to reject.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"a", "runs/42/model.pt", "../x", "a/./b", "/etc", "a\x00b", "a\xffb", "ü/\u2215", strings.Repeat("k", 1025), "a//b", ".hidden", "a/.."} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if server.ValidateKey(key) != nil {
			return
		}
		switch {
		case key == "" || len(key) > 1024:
			t.Fatalf("accepted key of %d bytes", len(key))
		case !utf8.ValidString(key):
			t.Fatalf("accepted invalid UTF-8 %q", key)
		case strings.HasPrefix(key, "/"):
			t.Fatalf("accepted leading slash %q", key)
		case strings.IndexFunc(key, unicode.IsControl) >= 0:
			t.Fatalf("accepted control character in %q", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted dot segment in %q", key)
			}
		}
	})
}

// FuzzSignBody sends arbitrary bodies to /v1/sign: bad input is a 4xx
// problem, never a 5xx or a URL.
func FuzzSignBody(f *testing.F) {
	for _, b := range []string{
		`{"team":"vision","operation":"read","object":"a"}`,
		`{"team":"vision","operation":"write","object":"a","content_type":"text/plain","expires_in":60}`,
		`{"team":"research","operation":"write","object":"a"}`,
		`{"team":"vision","operation":"read","object":"a","form":true}`,
		`[]`, `{`, `null`, `{"expires_in":1e400}`, `{"team":{}}`, "\xff",
	} {
		f.Add(b)
	}
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, body string) {
		r := h.do(t, "POST", "/v1/sign", aliceKey, body)
		if r.status >= 500 {
			t.Fatalf("status %d for %q: %s", r.status, body, r.raw)
		}
		if r.status != 200 {
			if _, ok := r.body["url"]; ok {
				t.Fatalf("status %d carries a URL: %s", r.status, r.raw)
			}
			if r.body["code"] == nil {
				t.Fatalf("status %d is not a problem document: %s", r.status, r.raw)
			}
		}
	})
}
