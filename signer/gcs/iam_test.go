package gcs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
	"github.com/signgate/signgate/signer/gcs/iamfake"
	"github.com/signgate/signgate/signer/signertest"
)

const signingAccount = "url-signer@signgate-test.iam.gserviceaccount.com"

// staticToken is the caller's access token, as a token provider.
type staticToken struct{}

func (staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: iamfake.Token, Type: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

var fakeKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// startIAM starts a signBlob stand-in that signs for signingAccount.
func startIAM(t testing.TB) *iamfake.Server {
	t.Helper()
	key, err := fakeKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := iamfake.Start(signingAccount, key)
	t.Cleanup(srv.Close)
	return srv
}

func newIAM(t testing.TB, srv *iamfake.Server, cfg gcs.IAMConfig) *gcs.IAM {
	t.Helper()
	cfg.Endpoint = srv.URL
	if cfg.Credentials == nil {
		cfg.Credentials = auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken{}})
	}
	if cfg.ServiceAccount == "" {
		cfg.ServiceAccount = signingAccount
	}
	m, err := gcs.NewIAM(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewIAM: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestConformanceThroughSignBlob(t *testing.T) {
	srv := startIAM(t)
	failing := startIAM(t)
	failing.SetMode(iamfake.Deny)
	signingTime, expiry := signertest.DateExpires("X-Goog-Date", "X-Goog-Expires")
	makeSigner := func(srv *iamfake.Server) func(*testing.T, signer.Clock) signer.Signer {
		return func(t *testing.T, _ signer.Clock) signer.Signer {
			s, err := gcs.New(gcs.Config{Bucket: "test-bucket"}, gcs.WithIAM(newIAM(t, srv, gcs.IAMConfig{})))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return s
		}
	}
	signertest.Run(t, signertest.Harness{
		Provider:           "gcs",
		Bucket:             "test-bucket",
		MakeSigner:         makeSigner(srv),
		MakeFailingSigner:  makeSigner(failing),
		WallClock:          true,
		Scheme:             "https",
		Host:               "storage.googleapis.com",
		PathPrefix:         "/test-bucket",
		SigningTime:        signingTime,
		Expiry:             expiry,
		SignedHeadersParam: "X-Goog-SignedHeaders",
		SignatureParam:     "X-Goog-Signature",
		DecisionIDSigned:   true,
	})
	if srv.SignBlobs.Load() == 0 {
		t.Error("no signBlob call was made")
	}
}

func TestSignBlobURLVerifiesWithThePublicKey(t *testing.T) {
	srv := startIAM(t)
	s, err := gcs.New(gcs.Config{Bucket: "b", Endpoint: "http://127.0.0.1:4443"}, gcs.WithIAM(newIAM(t, srv, gcs.IAMConfig{})))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign(context.Background(), signer.Grant{Key: "a b/ü.txt", Operation: signer.OpWrite, TTL: time.Minute, ContentType: "text/plain", DecisionID: "d-1"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got.URL)
	h := http.Header{}
	for k, v := range got.Headers {
		h.Set(k, v)
	}
	v, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host, Header: h}, &srv.Key.PublicKey, time.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if v.AccessID != signingAccount {
		t.Errorf("signed as %q, want %q", v.AccessID, signingAccount)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host, Header: h}, &other.PublicKey, time.Now()); !errors.Is(err, gcsverify.ErrBadSignature) {
		t.Errorf("Verify with another key = %v, want ErrBadSignature", err)
	}
}

func TestSignBlobFailureGivesNoURL(t *testing.T) {
	tests := []struct {
		name      string
		givenMode iamfake.Mode
	}{
		{"when signBlob is denied", iamfake.Deny},
		{"when signBlob is slower than the timeout", iamfake.Slow},
		{"when signBlob answers garbage", iamfake.Garbage},
		{"when signBlob answers a signature of the wrong length", iamfake.Short},
	}
	ops := map[string]func(s *gcs.Signer) (string, error){
		"url": func(s *gcs.Signer) (string, error) {
			got, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
			return got.URL, err
		},
		"form": func(s *gcs.Signer) (string, error) {
			got, err := s.SignForm(context.Background(), signer.FormGrant{Key: "k", TTL: time.Minute})
			return got.URL, err
		},
		"upload": func(s *gcs.Signer) (string, error) {
			got, err := s.StartUpload(context.Background(), signer.UploadGrant{Key: "k", Size: 10, TTL: time.Minute})
			if len(got.Parts) > 0 || got.Start != nil {
				return "a URL", err
			}
			return "", err
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startIAM(t)
			srv.SetMode(tt.givenMode)
			srv.Delay = 2 * time.Second
			s, err := gcs.New(gcs.Config{Bucket: "b"}, gcs.WithIAM(newIAM(t, srv, gcs.IAMConfig{Timeout: 200 * time.Millisecond})))
			if err != nil {
				t.Fatal(err)
			}
			for name, op := range ops {
				u, err := op(s)
				if !errors.Is(err, signer.ErrUnavailable) {
					t.Errorf("%s: err = %v, want signer.ErrUnavailable", name, err)
				}
				if u != "" {
					t.Errorf("%s: got a URL with an error", name)
				}
			}
		})
	}
}

func TestSignBlobPoolIsBounded(t *testing.T) {
	srv := startIAM(t)
	srv.SetMode(iamfake.Slow)
	srv.Delay = 20 * time.Millisecond
	s, err := gcs.New(gcs.Config{Bucket: "b"}, gcs.WithIAM(newIAM(t, srv, gcs.IAMConfig{Concurrency: 3})))
	if err != nil {
		t.Fatal(err)
	}
	if s.SignConcurrency() != 3 {
		t.Errorf("SignConcurrency = %d, want 3", s.SignConcurrency())
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.MaxFlight.Load(); got < 1 || got > 3 {
		t.Errorf("at most %d signBlob calls in flight, want 1 to 3", got)
	}
	if got := srv.SignBlobs.Load(); got != n {
		t.Errorf("%d signBlob calls, want %d", got, n)
	}
}

func TestSignBlobWaitsForASlotNoLongerThanTheContext(t *testing.T) {
	srv := startIAM(t)
	srv.SetMode(iamfake.Slow)
	srv.Delay = time.Second
	s, err := gcs.New(gcs.Config{Bucket: "b"}, gcs.WithIAM(newIAM(t, srv, gcs.IAMConfig{Concurrency: 1})))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
	}()
	for srv.MaxFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := s.Sign(ctx, signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
	if !errors.Is(err, context.Canceled) || got.URL != "" {
		t.Errorf("Sign = %q, %v; want no URL and context.Canceled", got.URL, err)
	}
}

// TestSignBlobWithApplicationDefaultCredentials reads the caller's identity
// from GOOGLE_APPLICATION_CREDENTIALS, whose token_uri is the stand-in: the
// token is fetched from there and sent to signBlob.
func TestSignBlobWithApplicationDefaultCredentials(t *testing.T) {
	srv := startIAM(t)
	callerKey, err := fakeKey()
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(callerKey)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	tests := []struct {
		name        string
		givenCaller string
		givenTarget string // IAMConfig.ServiceAccount
	}{
		{"signs as the credentials' own account", signingAccount, ""},
		{"impersonates a named account", "workload@signgate-test.iam.gserviceaccount.com", signingAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "adc.json")
			if err := os.WriteFile(path, srv.CredentialsJSON(tt.givenCaller, keyPEM), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
			m, err := gcs.NewIAM(context.Background(), gcs.IAMConfig{ServiceAccount: tt.givenTarget, Endpoint: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Email() != signingAccount {
				t.Fatalf("Email = %q, want %q", m.Email(), signingAccount)
			}
			if err := m.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			s, err := gcs.New(gcs.Config{Bucket: "b"}, gcs.WithIAM(m))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute}); err != nil {
				t.Fatalf("Sign: %v (last refusal: %s)", err, srv.LastRefusal())
			}
			if srv.Tokens.Load() == 0 {
				t.Error("no token was fetched from token_uri")
			}
		})
	}
}

// BenchmarkSignThroughSignBlob is BenchmarkSign's grant signed through the
// signBlob stand-in on loopback: one HTTP round trip per URL, whose RSA
// signature the stand-in makes. Against Google the round trip adds the
// network's latency.
func BenchmarkSignThroughSignBlob(b *testing.B) {
	srv := startIAM(b)
	s, err := gcs.New(gcs.Config{Bucket: "test-bucket"}, gcs.WithIAM(newIAM(b, srv, gcs.IAMConfig{})))
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
