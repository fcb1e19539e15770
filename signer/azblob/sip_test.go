package azblob

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
)

// Azurite does not enforce sip, so the field is checked here: it must be
// in the URL, and inside the signature (the signature changes with it).
func TestSignBindsIPRangeAsSip(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s, err := New(Config{Container: "c", Endpoint: "http://127.0.0.1:10000/devstoreaccount1", AccountName: "devstoreaccount1",
		AccountKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="},
		WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		givenCIDR string
		wantSip   string
	}{
		{"a /8 becomes its first and last address", "10.0.0.0/8", "10.0.0.0-10.255.255.255"},
		{"a /24 becomes its first and last address", "192.168.7.0/24", "192.168.7.0-192.168.7.255"},
		{"a /21 spans bytes", "172.16.8.0/21", "172.16.8.0-172.16.15.255"},
		{"an unmasked CIDR is masked first", "203.0.113.77/28", "203.0.113.64-203.0.113.79"},
		{"a /32 is a single address", "198.51.100.7/32", "198.51.100.7"},
	}
	plain, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	plainSig := query(t, plain.URL).Get("sig")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute,
				IPRange: netip.MustParsePrefix(tc.givenCIDR)})
			if err != nil {
				t.Fatal(err)
			}
			q := query(t, got.URL)
			if q.Get("sip") != tc.wantSip {
				t.Fatalf("sip = %q, want %q", q.Get("sip"), tc.wantSip)
			}
			if q.Get("sig") == plainSig || q.Get("sig") == "" {
				t.Fatal("the signature does not cover sip")
			}
		})
	}
	t.Run("refuses an IPv6 range rather than dropping it", func(t *testing.T) {
		got, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute,
			IPRange: netip.MustParsePrefix("2001:db8::/32")})
		if !errors.Is(err, signer.ErrUnsupported) || got.URL != "" {
			t.Fatalf("err = %v, url %q", err, got.URL)
		}
	})
	t.Run("a URL without a range has no sip", func(t *testing.T) {
		if q := query(t, plain.URL); q.Has("sip") {
			t.Fatalf("sip = %q", q.Get("sip"))
		}
	})
}

func query(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
