// Package signertest is the conformance suite that every signer provider
// runs from its own tests: the provider describes itself in a Harness and
// Run checks the behaviour that signer.Signer promises, with fixed
// credentials and a fixed clock.
package signertest

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
)

// Harness describes one provider to the suite.
type Harness struct {
	// Provider is what Signer.Provider must report.
	Provider string
	// Bucket is the bucket or container the signers are bound to.
	Bucket string

	// MakeSigner returns a signer for Bucket with fixed credentials that
	// reads the time from clock.
	MakeSigner func(t *testing.T, clock signer.Clock) signer.Signer
	// MakeFailingSigner returns a signer like MakeSigner's whose credential
	// source fails. Nil when the provider's credentials cannot fail at sign
	// time (a shared key held in memory).
	MakeFailingSigner func(t *testing.T, clock signer.Clock) signer.Signer
	// CredentialLifetime, when set, is how long the signing credential
	// lives after the clock's time (an Azure user delegation key): the
	// longest TTL is then clamped to it, with ClampedByCredential.
	CredentialLifetime time.Duration
	// WallClock says that the provider cannot take a clock and signs with
	// the real one (GCS: storage.SignedURL reads time.Now itself). The suite
	// then checks that the signing time in the URL is the real time,
	// truncated to the second, and that ExpiresAt = signing time + TTL.
	WallClock bool

	// Scheme and Host are those of every URL.
	Scheme, Host string
	// PathPrefix comes before "/" + the escaped key in a URL's path:
	// "/bucket" for path-style URLs, "" for virtual-hosted ones.
	PathPrefix string

	// SigningTime reads the signing time from a URL; nil when the URL
	// carries none (an Azure SAS without a start time).
	SigningTime func(u *url.URL) (time.Time, error)
	// Expiry reads the expiry signed into a URL.
	Expiry func(u *url.URL) (time.Time, error)

	// SignedHeadersParam names the query parameter that lists the signed
	// headers, separated by ';' (X-Amz-SignedHeaders, X-Goog-SignedHeaders).
	SignedHeadersParam string
	// ContentTypeUnsupported says that the provider cannot bind a request
	// Content-Type, so a write grant with one must fail with
	// signer.ErrUnsupported.
	ContentTypeUnsupported bool
	// WriteHeaders are the headers a write URL needs besides Content-Type
	// (Azure: x-ms-blob-type).
	WriteHeaders map[string]string

	// SignatureParam names the query parameter that holds the signature
	// (X-Amz-Signature, X-Goog-Signature, sig).
	SignatureParam string
	// DecisionIDSigned says that the provider signs every query parameter,
	// so the signature covers signer.DecisionParam (S3, GCS). When false
	// (Azure: a SAS signs a fixed list of fields), the suite checks that the
	// parameter is present and outside the signature, as documented.
	DecisionIDSigned bool
}

// fixedNow is the clock the suite gives signers. Its fraction of a second
// checks that providers sign at the truncated second.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 535_897_932, time.UTC)

func fixedClock() time.Time { return fixedNow }

// keys are object keys with their path escaping per RFC 3986, which S3,
// GCS and Azure all accept: each byte outside A-Z a-z 0-9 - . _ ~ is %XX.
var keys = []struct{ name, key, escaped string }{
	{"plain key", "report.pdf", "report.pdf"},
	{"key with spaces", "team a/2024/Q1 report.pdf", "team%20a/2024/Q1%20report.pdf"},
	{"unicode key", "ünï/cødé ✓.txt", "%C3%BCn%C3%AF/c%C3%B8d%C3%A9%20%E2%9C%93.txt"},
	{"key with reserved characters", "a+b%c=d&e?f#g;h:i@j,k!l'm(n)o*p$q", "a%2Bb%25c%3Dd%26e%3Ff%23g%3Bh%3Ai%40j%2Ck%21l%27m%28n%29o%2Ap%24q"},
	{"key of unreserved characters", "-._~/AZaz09", "-._~/AZaz09"},
}

// Run checks h's provider against the behaviour every signer promises.
func Run(t *testing.T, h Harness) {
	t.Helper()
	t.Run("reports provider and bucket", func(t *testing.T) {
		s := h.MakeSigner(t, fixedClock)
		if got := s.Provider(); got != h.Provider {
			t.Errorf("Provider() = %q, want %q", got, h.Provider)
		}
		if got := s.Bucket(); got != h.Bucket {
			t.Errorf("Bucket() = %q, want %q", got, h.Bucket)
		}
	})
	t.Run("signs every operation on every key", func(t *testing.T) { testOperations(t, h) })
	t.Run("signs at the clock's second and expires TTL later", func(t *testing.T) { testExpiry(t, h, 15*time.Minute, 15*time.Minute) })
	t.Run("drops a fraction of a second from the TTL", func(t *testing.T) { testExpiry(t, h, 90*time.Second+500*time.Millisecond, 90*time.Second) })
	t.Run("signs the longest TTL", func(t *testing.T) {
		want := signer.MaxTTL
		if h.CredentialLifetime > 0 && h.CredentialLifetime < want {
			want = h.CredentialLifetime
		}
		got := testExpiry(t, h, signer.MaxTTL, want)
		if wantBy := map[bool]string{true: signer.ClampedByCredential}[want < signer.MaxTTL]; got.ClampedBy != wantBy {
			t.Errorf("ClampedBy = %q, want %q", got.ClampedBy, wantBy)
		}
	})
	t.Run("binds a write's content type or refuses it", func(t *testing.T) { testContentType(t, h) })
	t.Run("rejects invalid grants", func(t *testing.T) { testInvalid(t, h) })
	t.Run("carries the decision id in every URL", func(t *testing.T) { testDecisionID(t, h) })
	t.Run("binds a client IP range or refuses it", func(t *testing.T) {
		s := h.MakeSigner(t, fixedClock)
		g := grant(signer.OpRead, "k")
		g.IPRange = netip.MustParsePrefix("10.0.0.0/8")
		got, err := s.Sign(context.Background(), g)
		if b, ok := s.(signer.IPBinder); ok && b.BindsIPRange(g.IPRange) {
			if err != nil || got.URL == "" {
				t.Fatalf("a signer that binds IP ranges failed: %v", err)
			}
			return
		}
		if !errors.Is(err, signer.ErrUnsupported) {
			t.Errorf("err = %v, want ErrUnsupported: an IP range is never silently dropped", err)
		}
		wantNoURL(t, got)
	})
	t.Run("signs a browser form, or has none and enforces nothing in one", func(t *testing.T) { testForm(t, h) })
	t.Run("refuses what no chunked upload can carry", func(t *testing.T) { testUpload(t, h) })
	t.Run("fails on a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := h.MakeSigner(t, fixedClock).Sign(ctx, grant(signer.OpRead, "k"))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		wantNoURL(t, got)
	})
	t.Run("fails when the credential source fails", func(t *testing.T) {
		if h.MakeFailingSigner == nil {
			t.Skipf("%s: credentials cannot fail at sign time", h.Provider)
		}
		got, err := h.MakeFailingSigner(t, fixedClock).Sign(context.Background(), grant(signer.OpRead, "k"))
		if err == nil {
			t.Error("err = nil, want the credential source's error")
		}
		wantNoURL(t, got)
	})
}

func grant(op signer.Operation, key string) signer.Grant {
	return signer.Grant{Key: key, Operation: op, TTL: 15 * time.Minute}
}

func testOperations(t *testing.T, h Harness) {
	s := h.MakeSigner(t, fixedClock)
	for _, op := range []signer.Operation{signer.OpRead, signer.OpWrite, signer.OpDelete} {
		for _, k := range keys {
			t.Run(string(op)+" "+k.name, func(t *testing.T) {
				got, err := s.Sign(context.Background(), grant(op, k.key))
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				if got.Method != op.Method() {
					t.Errorf("Method = %q, want %q", got.Method, op.Method())
				}
				u := parse(t, got.URL)
				if u.Scheme != h.Scheme || u.Host != h.Host {
					t.Errorf("URL %s://%s, want %s://%s", u.Scheme, u.Host, h.Scheme, h.Host)
				}
				if want := h.PathPrefix + "/" + k.escaped; u.EscapedPath() != want {
					t.Errorf("escaped path = %q, want %q", u.EscapedPath(), want)
				}
				if want := h.PathPrefix + "/" + k.key; u.Path != want {
					t.Errorf("path = %q, want %q", u.Path, want)
				}
				want := map[string]string{}
				if op == signer.OpWrite {
					want = h.WriteHeaders
				}
				wantHeaders(t, got.Headers, want)
				if h.SignedHeadersParam != "" {
					if sh := u.Query().Get(h.SignedHeadersParam); sh != "host" {
						t.Errorf("%s = %q, want only host", h.SignedHeadersParam, sh)
					}
				}
			})
		}
	}
}

func testExpiry(t *testing.T, h Harness, ttl, want time.Duration) signer.Signed {
	g := signer.Grant{Key: "k", Operation: signer.OpRead, TTL: ttl}
	before := time.Now()
	got, err := h.MakeSigner(t, fixedClock).Sign(context.Background(), g)
	after := time.Now()
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	u := parse(t, got.URL)
	if h.WallClock {
		signedAt, err := h.SigningTime(u)
		if err != nil {
			t.Fatalf("signing time: %v", err)
		}
		if signedAt.Before(before.Truncate(time.Second)) || signedAt.After(after) {
			t.Errorf("signed at %s, want the real time between %s and %s", signedAt, before, after)
		}
		if wantAt := signedAt.Add(want); !got.ExpiresAt.Equal(wantAt) {
			t.Errorf("ExpiresAt = %s, want signing time + %s = %s", got.ExpiresAt, want, wantAt)
		}
	} else {
		signedAt := fixedNow.Truncate(time.Second)
		if wantAt := signedAt.Add(want); !got.ExpiresAt.Equal(wantAt) {
			t.Errorf("ExpiresAt = %s, want clock (truncated) + %s = %s", got.ExpiresAt, want, wantAt)
		}
		if h.SigningTime != nil {
			inURL, err := h.SigningTime(u)
			if err != nil {
				t.Fatalf("signing time: %v", err)
			}
			if !inURL.Equal(signedAt) {
				t.Errorf("signing time in URL = %s, want %s", inURL, signedAt)
			}
		}
	}
	inURL, err := h.Expiry(u)
	if err != nil {
		t.Fatalf("expiry: %v", err)
	}
	if !inURL.Equal(got.ExpiresAt) {
		t.Errorf("expiry in URL = %s, ExpiresAt = %s", inURL, got.ExpiresAt)
	}
	return got
}

func testContentType(t *testing.T, h Harness) {
	g := signer.Grant{Key: "up/load.json", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "application/json"}
	got, err := h.MakeSigner(t, fixedClock).Sign(context.Background(), g)
	if h.ContentTypeUnsupported {
		if !errors.Is(err, signer.ErrUnsupported) {
			t.Errorf("err = %v, want signer.ErrUnsupported", err)
		}
		wantNoURL(t, got)
		return
	}
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	want := map[string]string{"Content-Type": g.ContentType}
	for k, v := range h.WriteHeaders {
		want[k] = v
	}
	wantHeaders(t, got.Headers, want)
	signed := strings.Split(parse(t, got.URL).Query().Get(h.SignedHeadersParam), ";")
	if !slices.Contains(signed, "content-type") {
		t.Errorf("%s = %q, want content-type signed", h.SignedHeadersParam, signed)
	}
}

func testInvalid(t *testing.T, h Harness) {
	s := h.MakeSigner(t, fixedClock)
	tests := []struct {
		name  string
		given signer.Grant
	}{
		{"zero TTL", signer.Grant{Key: "k", Operation: signer.OpRead}},
		{"negative TTL", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: -time.Second}},
		{"TTL under a second", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: 999 * time.Millisecond}},
		{"TTL over seven days", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: signer.MaxTTL + time.Second}},
		{"empty key", signer.Grant{Operation: signer.OpRead, TTL: time.Minute}},
		{"unknown operation", signer.Grant{Key: "k", Operation: "list", TTL: time.Minute}},
		{"content type on a read", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute, ContentType: "text/plain"}},
		{"decision id with a reserved character", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute, DecisionID: "a&x-signgate-decision=b"}},
		{"decision id over 128 characters", signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute, DecisionID: strings.Repeat("d", 129)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Sign(context.Background(), tt.given)
			if !errors.Is(err, signer.ErrInvalidGrant) {
				t.Errorf("err = %v, want signer.ErrInvalidGrant", err)
			}
			wantNoURL(t, got)
		})
	}
}

func parse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("URL %q: %v", raw, err)
	}
	return u
}

func wantHeaders(t *testing.T, got, want map[string]string) {
	t.Helper()
	if got == nil {
		t.Error("Headers = nil, want a map (empty when no header is needed)")
	}
	if len(got) != len(want) {
		t.Errorf("Headers = %v, want %v", got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Headers = %v, want %v", got, want)
			return
		}
	}
}

func wantNoURL(t *testing.T, got signer.Signed) {
	t.Helper()
	if got.URL != "" || got.Method != "" || got.Headers != nil || !got.ExpiresAt.IsZero() {
		t.Errorf("Signed = %+v, want the zero value with an error", got)
	}
}
