package gcs_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
)

// TestPoolSharesTheIAMClientOfAnAccount builds three IAM signers with
// Application Default Credentials through one Pool: two for the same
// account share one token, each with its own concurrency bound; the third,
// for another endpoint, fetches its own.
func TestPoolSharesTheIAMClientOfAnAccount(t *testing.T) {
	srv, other := startIAM(t), startIAM(t)
	callerKey, err := fakeKey()
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(callerKey)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	path := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(path, srv.CredentialsJSON(signingAccount, keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)

	pool := gcs.NewPool()
	build := func(endpoint string, concurrency int) *gcs.IAM {
		t.Helper()
		m, err := pool.IAM(context.Background(), gcs.IAMConfig{Endpoint: endpoint, Concurrency: concurrency})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b, c := build(srv.URL, 4), build(srv.URL, 9), build(other.URL, 0)
	t.Cleanup(func() { _ = a.Close(); _ = c.Close() })
	if a.Concurrency() != 4 || b.Concurrency() != 9 || c.Concurrency() != gcs.DefaultSignBlobConcurrency {
		t.Errorf("concurrency %d, %d, %d; want each connector's own: 4, 9, %d", a.Concurrency(), b.Concurrency(), c.Concurrency(), gcs.DefaultSignBlobConcurrency)
	}
	sign := func(m *gcs.IAM) {
		t.Helper()
		s, err := gcs.New(gcs.Config{Bucket: "b"}, gcs.WithIAM(m))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute}); err != nil {
			t.Fatalf("Sign: %v (last refusal: %s)", err, srv.LastRefusal())
		}
	}
	sign(a)
	sign(b)
	if n := srv.Tokens.Load(); n != 1 {
		t.Errorf("two connectors of one account fetched %d tokens, want 1 (one shared credential)", n)
	}
	if _, err := pool.IAM(context.Background(), gcs.IAMConfig{Endpoint: srv.URL, Concurrency: -1}); err == nil {
		t.Error("a negative concurrency was accepted for a shared client")
	}
	if c.Email() != signingAccount {
		t.Errorf("other endpoint: Email = %q", c.Email())
	}
}
