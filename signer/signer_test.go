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

func TestEveryGrantKindChecksTheSameBasics(t *testing.T) {
	tests := []struct {
		name            string
		givenKey        string
		givenTTL        time.Duration
		givenDecisionID string
		wantErr         error
	}{
		{name: "accepts a key for a minute", givenKey: "a", givenTTL: time.Minute},
		{name: "refuses an empty key", givenTTL: time.Minute, wantErr: signer.ErrInvalidGrant},
		{name: "refuses a TTL under one second", givenKey: "a", givenTTL: 500 * time.Millisecond, wantErr: signer.ErrInvalidGrant},
		{name: "refuses a TTL over seven days", givenKey: "a", givenTTL: signer.MaxTTL + time.Second, wantErr: signer.ErrInvalidGrant},
		{name: "refuses a decision id that is no URL text", givenKey: "a", givenTTL: time.Minute, givenDecisionID: "a b", wantErr: signer.ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kinds := map[string]error{
				"grant":  signer.Grant{Key: tt.givenKey, Operation: signer.OpRead, TTL: tt.givenTTL, DecisionID: tt.givenDecisionID}.Validate(),
				"upload": signer.UploadGrant{Key: tt.givenKey, Size: 1, TTL: tt.givenTTL, DecisionID: tt.givenDecisionID}.Validate(),
			}
			if tt.givenDecisionID == "" { // a form carries no decision id
				kinds["form"] = signer.FormGrant{Key: tt.givenKey, TTL: tt.givenTTL}.Validate()
			}
			for kind, err := range kinds {
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Errorf("%s: err = %v, want %v", kind, err, tt.wantErr)
				}
			}
		})
	}
}
