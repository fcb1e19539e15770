package signer_test

import (
	"errors"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
)

const mib = 1 << 20

func TestPlanParts(t *testing.T) {
	tests := []struct {
		name          string
		givenSize     int64
		givenPartSize int64
		wantParts     int
		wantPartSize  int64
		wantLast      int64
		wantErr       bool
	}{
		{name: "one short part for a small object", givenSize: 10, wantParts: 1, wantPartSize: signer.DefaultPartSize, wantLast: 10},
		{name: "default part size for 12 MiB", givenSize: 12 * mib, wantParts: 2, wantPartSize: 8 * mib, wantLast: 4 * mib},
		{name: "5 MiB parts with a short last one", givenSize: 12 * mib, givenPartSize: 5 * mib, wantParts: 3, wantPartSize: 5 * mib, wantLast: 2 * mib},
		{name: "an exact multiple has a full last part", givenSize: 15 * mib, givenPartSize: 5 * mib, wantParts: 3, wantPartSize: 5 * mib, wantLast: 5 * mib},
		{name: "a 50 GiB checkpoint in default parts", givenSize: 50 << 30, wantParts: 6400, wantPartSize: 8 * mib, wantLast: 8 * mib},
		{name: "the default grows to whole MiB to stay within 10,000 parts", givenSize: 100 << 30, wantParts: 9310, wantPartSize: 11 * mib, wantLast: 1 * mib},
		{name: "exactly 10,000 parts", givenSize: 10_000 * 5 * mib, givenPartSize: 5 * mib, wantParts: 10_000, wantPartSize: 5 * mib, wantLast: 5 * mib},
		{name: "the largest object in the largest parts", givenSize: signer.MaxUploadSize, givenPartSize: signer.MaxPartSize, wantParts: 1024, wantPartSize: signer.MaxPartSize, wantLast: signer.MaxPartSize},
		{name: "refuses a part under 5 MiB", givenSize: 12 * mib, givenPartSize: 5*mib - 1, wantErr: true},
		{name: "refuses a part over 5 GiB", givenSize: 12 * mib, givenPartSize: signer.MaxPartSize + 1, wantErr: true},
		{name: "refuses more than 10,000 parts", givenSize: 10_000*5*mib + 1, givenPartSize: 5 * mib, wantErr: true},
		{name: "refuses an empty object", givenSize: 0, wantErr: true},
		{name: "refuses a negative size", givenSize: -1, wantErr: true},
		{name: "refuses an object over 5 TiB", givenSize: signer.MaxUploadSize + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, partSize, err := signer.PlanParts(tt.givenSize, tt.givenPartSize)
			if tt.wantErr {
				if !errors.Is(err, signer.ErrInvalidPlan) {
					t.Fatalf("err = %v, want ErrInvalidPlan", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != tt.wantParts || partSize != tt.wantPartSize {
				t.Fatalf("%d parts of %d, want %d of %d", len(parts), partSize, tt.wantParts, tt.wantPartSize)
			}
			var next int64
			for i, p := range parts {
				if p.Number != i+1 || p.Offset != next || p.Length < 1 {
					t.Fatalf("part %d = %+v, want number %d at offset %d", i, p, i+1, next)
				}
				if i < len(parts)-1 && (p.Length != partSize || p.Length < signer.MinPartSize) {
					t.Fatalf("part %d has %d bytes, want %d", p.Number, p.Length, partSize)
				}
				next += p.Length
			}
			if next != tt.givenSize || parts[len(parts)-1].Length != tt.wantLast {
				t.Fatalf("parts cover %d bytes, last %d; want %d, last %d", next, parts[len(parts)-1].Length, tt.givenSize, tt.wantLast)
			}
		})
	}
}

func TestClampTTL(t *testing.T) {
	if ttl, by := signer.ClampTTL(time.Hour); ttl != time.Hour || by != "" {
		t.Errorf("ClampTTL(1h) = %s %q, want 1h unclamped", ttl, by)
	}
	if ttl, by := signer.ClampTTL(signer.MaxTTL); ttl != signer.MaxTTL || by != "" {
		t.Errorf("ClampTTL(7d) = %s %q, want 7d unclamped", ttl, by)
	}
	if ttl, by := signer.ClampTTL(30 * 24 * time.Hour); ttl != signer.MaxTTL || by != signer.ClampedByProviderLimit {
		t.Errorf("ClampTTL(30d) = %s %q, want 7d by provider_limit", ttl, by)
	}
}

func TestClampToCredential(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		givenSecs    int64
		givenExpires time.Time
		givenCan     bool
		wantSecs     int64
		wantBy       string
	}{
		{"a credential that does not expire leaves the TTL", 3600, time.Time{}, false, 3600, ""},
		{"a credential that outlives the TTL leaves it", 3600, at.Add(2 * time.Hour), true, 3600, ""},
		{"a credential that dies with the TTL leaves it", 3600, at.Add(time.Hour), true, 3600, ""},
		{"a credential that dies first cuts the TTL", 3600, at.Add(10 * time.Minute), true, 600, signer.ClampedByCredential},
		{"the cut is floored to whole seconds", 3600, at.Add(10*time.Minute + 999*time.Millisecond), true, 600, signer.ClampedByCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secs, by := signer.ClampToCredential(at, tt.givenSecs, tt.givenCan, tt.givenExpires)
			if secs != tt.wantSecs || by != tt.wantBy {
				t.Fatalf("= %d %q, want %d %q", secs, by, tt.wantSecs, tt.wantBy)
			}
		})
	}
}

func TestGrantsValidate(t *testing.T) {
	tests := []struct {
		name  string
		given interface{ Validate() error }
		want  error
	}{
		{"an upload grant", signer.UploadGrant{Key: "k", Size: 1, TTL: time.Minute}, nil},
		{"an upload grant without a key", signer.UploadGrant{Size: 1, TTL: time.Minute}, signer.ErrInvalidGrant},
		{"an upload grant under a second", signer.UploadGrant{Key: "k", TTL: time.Millisecond}, signer.ErrInvalidGrant},
		{"an upload grant over seven days", signer.UploadGrant{Key: "k", TTL: signer.MaxTTL + time.Second}, signer.ErrInvalidGrant},
		{"an upload grant with a bad decision id", signer.UploadGrant{Key: "k", TTL: time.Minute, DecisionID: "a&b"}, signer.ErrInvalidGrant},
		{"a form grant", signer.FormGrant{Key: "k", TTL: time.Minute, MaxBytes: 10, ContentType: "image/", ContentTypePrefix: true}, nil},
		{"a form grant without a key", signer.FormGrant{TTL: time.Minute}, signer.ErrInvalidGrant},
		{"a form grant under a second", signer.FormGrant{Key: "k"}, signer.ErrInvalidGrant},
		{"a form grant over seven days", signer.FormGrant{Key: "k", TTL: signer.MaxTTL + time.Second}, signer.ErrInvalidGrant},
		{"a form grant with a negative size", signer.FormGrant{Key: "k", TTL: time.Minute, MaxBytes: -1}, signer.ErrInvalidGrant},
		{"a form grant with an empty prefix", signer.FormGrant{Key: "k", TTL: time.Minute, ContentTypePrefix: true}, signer.ErrInvalidGrant},
		{"a grant with content MD5 on a read", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute, ContentMD5: "1B2M2Y8AsgTpgAmY7PhCfg=="}, signer.ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.given.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}
