package signer_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/signgate/signgate/signer"
)

// FuzzValidateKey checks that every key ValidateKey accepts really has
// none of the properties it promises to reject.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"a", "runs/42/model.pt", "../x", "a/./b", "/etc", "a\x00b", "a\xffb", "ü/\u2215", strings.Repeat("k", 1025), "a//b", ".hidden", "a/.."} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if signer.ValidateKey(key) != nil {
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
