package signer_test

import (
	"errors"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
)

func TestEscapeKey(t *testing.T) {
	tests := []struct {
		name  string
		given string
		want  string
	}{
		{"keeps unreserved characters and slashes", "a-b.c_d~e/F9", "a-b.c_d~e/F9"},
		{"escapes a space as %20, never +", "a b", "a%20b"},
		{"escapes reserved characters", "a+b%c=d&e?f#g;h:i@j,k!l'm(n)o*p$q[r]", "a%2Bb%25c%3Dd%26e%3Ff%23g%3Bh%3Ai%40j%2Ck%21l%27m%28n%29o%2Ap%24q%5Br%5D"},
		{"escapes UTF-8 bytes in upper-case hex", "ü✓", "%C3%BC%E2%9C%93"},
		{"keeps empty segments", "/a//b/", "/a//b/"},
		{"escapes a backslash", `a\b`, "a%5Cb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signer.EscapeKey(tt.given); got != tt.want {
				t.Errorf("EscapeKey(%q) = %q, want %q", tt.given, got, tt.want)
			}
		})
	}
}

func TestTTLSeconds(t *testing.T) {
	tests := []struct {
		name    string
		given   time.Duration
		want    int64
		wantErr error
	}{
		{"whole seconds", 15 * time.Minute, 900, nil},
		{"drops a fraction of a second", 1500 * time.Millisecond, 1, nil},
		{"refuses less than a second", 999 * time.Millisecond, 0, signer.ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signer.Grant{TTL: tt.given}.TTLSeconds()
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("TTLSeconds() = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
