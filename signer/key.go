package signer

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyBytes is the longest object key signgate signs: S3's and GCS's limit.
const MaxKeyBytes = 1024

// ValidateKey rejects object keys that are ambiguous or dangerous on some
// provider: empty or over 1024 bytes, invalid UTF-8, control characters, a
// leading "/", or a "." or ".." path segment.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return errors.New("key is empty")
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("key is %d bytes, over the limit of %d", len(key), MaxKeyBytes)
	case !utf8.ValidString(key) || strings.ContainsRune(key, utf8.RuneError):
		// JSON decoding turns a lone surrogate escape into U+FFFD.
		return errors.New("key is not valid UTF-8 (or holds U+FFFD)")
	case strings.ContainsFunc(key, unicode.IsControl):
		return errors.New("key contains control characters")
	case strings.HasPrefix(key, "/"):
		return errors.New(`key starts with "/"`)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("key has a %q path segment", seg)
		}
	}
	return nil
}
