package gcs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
	"github.com/signgate/signgate/signer/signertest"
)

// generatedKey is a service-account key file made once per test run, with
// the standard library rather than the package's own generator, for the
// tests that need some key; only the official vectors need Google's.
var generatedKey = sync.OnceValues(func() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{
		"type":         "service_account",
		"client_email": "signer@signgate-test.iam.gserviceaccount.com",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	})
})

func testServiceAccount(t testing.TB) []byte {
	t.Helper()
	b, err := generatedKey()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	signingTime, expiry := signertest.DateExpires("X-Goog-Date", "X-Goog-Expires")
	sa := testServiceAccount(t)
	tests := []struct {
		name          string
		givenEndpoint string
		wantScheme    string
		wantHost      string
	}{
		{"on GCS", "", "https", "storage.googleapis.com"},
		{"on an emulator endpoint", "http://127.0.0.1:4443", "http", "127.0.0.1:4443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			makeSigner := func(opts ...gcs.Option) func(*testing.T, signer.Clock) signer.Signer {
				return func(t *testing.T, _ signer.Clock) signer.Signer {
					s, err := gcs.New(gcs.Config{Bucket: "test-bucket", Endpoint: tt.givenEndpoint, ServiceAccountJSON: sa}, opts...)
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					return s
				}
			}
			failing := gcs.WithSignBytes("signer@example.iam.gserviceaccount.com", func([]byte) ([]byte, error) {
				return nil, errors.New("signBlob: permission denied")
			})
			signertest.Run(t, signertest.Harness{
				Provider:           "gcs",
				Bucket:             "test-bucket",
				MakeSigner:         makeSigner(),
				MakeFailingSigner:  makeSigner(failing),
				WallClock:          true,
				Scheme:             tt.wantScheme,
				Host:               tt.wantHost,
				PathPrefix:         "/test-bucket",
				SigningTime:        signingTime,
				Expiry:             expiry,
				SignedHeadersParam: "X-Goog-SignedHeaders",
				SignatureParam:     "X-Goog-Signature",
				DecisionIDSigned:   true,
			})
		})
	}
}

// TestSignedURLsVerify checks what the signer produces with the
// independent verifier, as the verifying proxy will.
func TestSignedURLsVerify(t *testing.T) {
	json, err := gcs.GenerateServiceAccountJSON("dev@signgate-dev.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := gcs.ParseServiceAccountJSON(json)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gcs.New(gcs.Config{Bucket: "b", Endpoint: "http://127.0.0.1:4443", ServiceAccountJSON: json})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		given       signer.Grant
		givenHeader http.Header // nil: send Signed.Headers
		wantErr     error
	}{
		{"accepts a read", signer.Grant{Key: "a b/ü+%=.txt", Operation: signer.OpRead, TTL: time.Minute}, nil, nil},
		{"accepts a delete", signer.Grant{Key: "x", Operation: signer.OpDelete, TTL: time.Minute}, nil, nil},
		{"accepts a write with its content type", signer.Grant{Key: "x", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "image/png"}, nil, nil},
		{"rejects a write with another content type", signer.Grant{Key: "x", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "image/png"}, http.Header{"Content-Type": {"text/html"}}, gcsverify.ErrBadSignature},
		{"rejects a write without its content type", signer.Grant{Key: "x", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "image/png"}, http.Header{}, gcsverify.ErrMissingHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Sign(context.Background(), tt.given)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got.URL)
			if err != nil {
				t.Fatal(err)
			}
			header := tt.givenHeader
			if header == nil {
				header = http.Header{}
				for k, v := range got.Headers {
					header.Set(k, v)
				}
			}
			v, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host, Header: header}, &sa.Key.PublicKey, time.Now())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (v.AccessID != sa.Email || !v.ExpiresAt.Equal(got.ExpiresAt)) {
				t.Errorf("verified %s until %s, want %s until %s", v.AccessID, v.ExpiresAt, sa.Email, got.ExpiresAt)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	sa := testServiceAccount(t)
	tests := []struct {
		name  string
		given gcs.Config
	}{
		{"no bucket", gcs.Config{ServiceAccountJSON: sa}},
		{"no key", gcs.Config{Bucket: "b"}},
		{"key that is not JSON", gcs.Config{Bucket: "b", ServiceAccountJSON: []byte("nope")}},
		{"key without PEM", gcs.Config{Bucket: "b", ServiceAccountJSON: []byte(`{"client_email":"a@b","private_key":"x"}`)}},
		{"endpoint without scheme", gcs.Config{Bucket: "b", ServiceAccountJSON: sa, Endpoint: "127.0.0.1:4443"}},
		{"endpoint with a path", gcs.Config{Bucket: "b", ServiceAccountJSON: sa, Endpoint: "http://h/storage/v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := gcs.New(tt.given); err == nil {
				t.Error("New: err = nil, want an error")
			}
		})
	}
}

func TestGenerateServiceAccountJSON(t *testing.T) {
	b, err := gcs.GenerateServiceAccountJSON("dev@signgate-dev.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := gcs.ParseServiceAccountJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Email != "dev@signgate-dev.iam.gserviceaccount.com" || sa.Key.N.BitLen() != 2048 {
		t.Errorf("got %s with a %d-bit key", sa.Email, sa.Key.N.BitLen())
	}
}

func BenchmarkSign(b *testing.B) {
	s, err := gcs.New(gcs.Config{Bucket: "test-bucket", ServiceAccountJSON: testServiceAccount(b)})
	if err != nil {
		b.Fatal(err)
	}
	g := signer.Grant{Key: "team a/2024/report.pdf", Operation: signer.OpWrite, TTL: 15 * time.Minute, ContentType: "application/pdf"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}
