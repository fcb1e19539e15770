package signer

import "strings"

// EscapeKey escapes an object key for the path of a URL the way S3 (SigV4
// with S3's single-encoding rule), GCS (V4) and Azure Blob expect: every byte
// outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~) becomes %XX with
// upper-case hex, and '/' is kept as the segment separator. Empty segments
// ("a//b", a leading "/") are kept as they are: object stores never
// normalise paths.
func EscapeKey(key string) string {
	n := 0
	for i := 0; i < len(key); i++ {
		if !keepInPath(key[i]) {
			n++
		}
	}
	if n == 0 {
		return key
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key) + 2*n)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if keepInPath(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func keepInPath(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '-', c == '.', c == '_', c == '~', c == '/':
		return true
	}
	return false
}
