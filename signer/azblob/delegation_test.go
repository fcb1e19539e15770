package azblob_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/signgate/signgate/internal/testtls"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/signertest"
)

// entraToken stands in for an azidentity credential.
type entraToken struct{ fail bool }

func (e entraToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if e.fail {
		return azcore.AccessToken{}, errors.New("entra: AADSTS700016: application not found")
	}
	return azcore.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// udkServer answers Get User Delegation Key as the Blob service does:
// POST /?restype=service&comp=userdelegationkey with a KeyInfo body.
type udkServer struct {
	url     string
	fetches atomic.Int64
	fail    atomic.Bool
	mu      sync.Mutex
	asked   []string // each request's Start..Expiry
}

func startUDK(t *testing.T) (*udkServer, *service.ClientOptions) {
	t.Helper()
	cert, err := testtls.New(devAccount + ".blob.core.windows.net")
	if err != nil {
		t.Fatal(err)
	}
	u := &udkServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Start  string `xml:"Start"`
			Expiry string `xml:"Expiry"`
		}
		switch {
		case r.Method != http.MethodPost || r.URL.Query().Get("comp") != "userdelegationkey" || r.URL.Query().Get("restype") != "service":
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		case r.Header.Get("Authorization") != "Bearer entra-token":
			http.Error(w, "no bearer token", http.StatusForbidden)
			return
		case u.fail.Load():
			w.Header().Set("x-ms-error-code", "AuthorizationPermissionMismatch")
			http.Error(w, "<Error><Code>AuthorizationPermissionMismatch</Code></Error>", http.StatusForbidden)
			return
		}
		if err := xml.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u.fetches.Add(1)
		u.mu.Lock()
		u.asked = append(u.asked, in.Start+".."+in.Expiry)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><UserDelegationKey>` +
			`<SignedOid>11111111-2222-3333-4444-555555555555</SignedOid><SignedTid>66666666-7777-8888-9999-000000000000</SignedTid>` +
			`<SignedStart>` + in.Start + `</SignedStart><SignedExpiry>` + in.Expiry + `</SignedExpiry>` +
			`<SignedService>b</SignedService><SignedVersion>2025-11-05</SignedVersion>` +
			`<Value>` + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + `</Value></UserDelegationKey>`))
	}))
	srv.TLS = cert.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u.url = srv.URL
	opts := &service.ClientOptions{}
	opts.Transport = &http.Client{Transport: cert.Transport(srv.Listener.Addr().String())}
	opts.Retry.MaxRetries = -1
	return u, opts
}

func newUD(t *testing.T, opts *service.ClientOptions, cred azcore.TokenCredential, lifetime time.Duration, clock signer.Clock) *azblob.Signer {
	t.Helper()
	s, err := azblob.New(azblob.Config{Container: "images", AccountName: devAccount,
		TokenCredential: cred, DelegationKeyLifetime: lifetime, ClientOptions: opts}, azblob.WithClock(clock))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformanceWithUserDelegation(t *testing.T) {
	udk, opts := startUDK(t)
	signertest.Run(t, signertest.Harness{
		Provider: "azure",
		Bucket:   "images",
		MakeSigner: func(t *testing.T, clock signer.Clock) signer.Signer {
			return newUD(t, opts, entraToken{}, 0, clock)
		},
		MakeFailingSigner: func(t *testing.T, clock signer.Clock) signer.Signer {
			return newUD(t, opts, entraToken{fail: true}, 0, clock)
		},
		CredentialLifetime:     azblob.MaxDelegationKeyLifetime,
		Scheme:                 "https",
		Host:                   devAccount + ".blob.core.windows.net",
		PathPrefix:             "/images",
		Expiry:                 expiry,
		ContentTypeUnsupported: true,
		WriteHeaders:           map[string]string{"x-ms-blob-type": "BlockBlob"},
		SignatureParam:         "sig",
	})
	if udk.fetches.Load() == 0 {
		t.Error("no delegation key was fetched")
	}
}

func TestUserDelegationSAS(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	read := signer.Grant{Key: "a/b.png", Operation: signer.OpRead, TTL: 24 * time.Hour}

	t.Run("carries the key's fields and clamps the expiry to the key's", func(t *testing.T) {
		_, opts := startUDK(t)
		s := newUD(t, opts, entraToken{}, 2*time.Hour, func() time.Time { return t0 })
		got, err := s.Sign(context.Background(), read)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := url.ParseQuery(strings.SplitN(got.URL, "?", 2)[1])
		for _, p := range []string{"skoid", "sktid", "skt", "ske", "sks", "skv", "sig"} {
			if q.Get(p) == "" {
				t.Errorf("no %s in %s", p, got.URL)
			}
		}
		if want := t0.Add(2 * time.Hour); !got.ExpiresAt.Equal(want) || got.ClampedBy != signer.ClampedByCredential {
			t.Errorf("ExpiresAt %s (%q), want %s clamped by the credential", got.ExpiresAt, got.ClampedBy, want)
		}
		if q.Get("ske") != t0.Add(2*time.Hour).Format(time.RFC3339) {
			t.Errorf("ske = %s, want the key's expiry", q.Get("ske"))
		}
		up, err := s.StartUpload(context.Background(), signer.UploadGrant{Key: "a/big.bin", Size: 10 << 20, TTL: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if !up.ExpiresAt.Equal(t0.Add(2*time.Hour)) || up.ClampedBy != signer.ClampedByCredential {
			t.Errorf("upload ExpiresAt %s (%q), want the key's expiry, clamped by the credential", up.ExpiresAt, up.ClampedBy)
		}
	})
	t.Run("reuses one key, renews it at half its life and keeps signing", func(t *testing.T) {
		udk, opts := startUDK(t)
		var now atomic.Pointer[time.Time]
		now.Store(&t0)
		s := newUD(t, opts, entraToken{}, 4*time.Hour, func() time.Time { return *now.Load() })
		for range 5 {
			if _, err := s.Sign(context.Background(), read); err != nil {
				t.Fatal(err)
			}
		}
		if n := udk.fetches.Load(); n != 1 {
			t.Fatalf("%d keys fetched for 5 URLs, want 1", n)
		}
		later := t0.Add(2*time.Hour + time.Second)
		now.Store(&later)
		got, err := s.Sign(context.Background(), read)
		if err != nil || !got.ExpiresAt.Equal(t0.Add(4*time.Hour)) {
			t.Fatalf("Sign during renewal: %v, expires %s; want the old key's expiry", err, got.ExpiresAt)
		}
		for i := 0; udk.fetches.Load() < 2 && i < 500; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if n := udk.fetches.Load(); n != 2 {
			t.Fatalf("%d keys fetched, want a renewal", n)
		}
		for i := 0; i < 500; i++ {
			got, err = s.Sign(context.Background(), read)
			if err != nil || got.ExpiresAt.Equal(later.Add(4*time.Hour)) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil || !got.ExpiresAt.Equal(later.Add(4*time.Hour)) {
			t.Fatalf("Sign after renewal: %v, expires %s; want the new key's %s", err, got.ExpiresAt, later.Add(4*time.Hour))
		}
	})
	t.Run("keeps the old key while renewing fails, then fails without a URL", func(t *testing.T) {
		udk, opts := startUDK(t)
		var now atomic.Pointer[time.Time]
		now.Store(&t0)
		s := newUD(t, opts, entraToken{}, 2*time.Hour, func() time.Time { return *now.Load() })
		if _, err := s.Sign(context.Background(), read); err != nil {
			t.Fatal(err)
		}
		udk.fail.Store(true)
		late := t0.Add(90 * time.Minute)
		now.Store(&late)
		if got, err := s.Sign(context.Background(), read); err != nil || !got.ExpiresAt.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("Sign = %v, %s; want the old key until %s", err, got.ExpiresAt, t0.Add(2*time.Hour))
		}
		gone := t0.Add(2*time.Hour - 30*time.Second)
		now.Store(&gone)
		for i := 0; i < 500; i++ { // let the background renewal finish failing
			got, err := s.Sign(context.Background(), read)
			if err != nil {
				if !errors.Is(err, signer.ErrUnavailable) || got.URL != "" {
					t.Fatalf("Sign = %q, %v; want no URL and ErrUnavailable", got.URL, err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("a key that expires in 30s still signs")
	})
	t.Run("refuses an endpoint whose host does not name the account", func(t *testing.T) {
		_, err := azblob.New(azblob.Config{Container: "images", AccountName: devAccount, Endpoint: "https://127.0.0.1:10000/" + devAccount, TokenCredential: entraToken{}})
		if err == nil {
			t.Fatal("New accepted an IP-style endpoint for user delegation")
		}
	})
}
