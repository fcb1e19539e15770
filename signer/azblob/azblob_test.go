package azblob_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/signertest"
)

// The Azure Storage emulator's published account and key.
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func expiry(u *url.URL) (time.Time, error) {
	return time.Parse("2006-01-02T15:04:05Z", u.Query().Get("se"))
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name           string
		givenEndpoint  string
		wantScheme     string
		wantHost       string
		wantPathPrefix string
	}{
		{"on Azure", "", "https", devAccount + ".blob.core.windows.net", "/images"},
		{"on Azurite", "http://127.0.0.1:10000/devstoreaccount1", "http", "127.0.0.1:10000", "/devstoreaccount1/images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signertest.Run(t, signertest.Harness{
				Provider: "azure",
				Bucket:   "images",
				MakeSigner: func(t *testing.T, clock signer.Clock) signer.Signer {
					s, err := azblob.New(azblob.Config{Container: "images", Endpoint: tt.givenEndpoint, AccountName: devAccount, AccountKey: devKey}, azblob.WithClock(clock))
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					return s
				},
				Scheme:                 tt.wantScheme,
				Host:                   tt.wantHost,
				PathPrefix:             tt.wantPathPrefix,
				Expiry:                 expiry,
				ContentTypeUnsupported: true,
				WriteHeaders:           map[string]string{"x-ms-blob-type": "BlockBlob"},
				SignatureParam:         "sig",
			})
		})
	}
}

func TestBackslashKeysAreUnsupported(t *testing.T) {
	s, err := azblob.New(azblob.Config{Container: "images", AccountName: devAccount, AccountKey: devKey})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign(context.Background(), signer.Grant{Key: `a\b`, Operation: signer.OpRead, TTL: time.Minute})
	if !errors.Is(err, signer.ErrUnsupported) || got.URL != "" {
		t.Errorf("Sign = %+v, %v; want no URL and signer.ErrUnsupported", got, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		given azblob.Config
	}{
		{"no container", azblob.Config{AccountName: devAccount, AccountKey: devKey}},
		{"upper-case container", azblob.Config{Container: "Images", AccountName: devAccount, AccountKey: devKey}},
		{"no account", azblob.Config{Container: "images", AccountKey: devKey}},
		{"no key", azblob.Config{Container: "images", AccountName: devAccount}},
		{"key that is not base64", azblob.Config{Container: "images", AccountName: devAccount, AccountKey: "not base64!"}},
		{"endpoint without scheme", azblob.Config{Container: "images", AccountName: devAccount, AccountKey: devKey, Endpoint: "127.0.0.1:10000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := azblob.New(tt.given); err == nil {
				t.Error("New: err = nil, want an error")
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	s, err := azblob.New(azblob.Config{Container: "images", AccountName: devAccount, AccountKey: devKey})
	if err != nil {
		b.Fatal(err)
	}
	g := signer.Grant{Key: "team a/2024/report.pdf", Operation: signer.OpWrite, TTL: 15 * time.Minute}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}
