package gcs_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
)

func TestPoolSharesAServiceAccountByContent(t *testing.T) {
	pool := gcs.NewPool()
	first := testServiceAccount(t)
	other, err := gcs.GenerateServiceAccountJSON("other@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	a, err := pool.ServiceAccount(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.ServiceAccount(append([]byte(nil), first...)) // same content, another buffer
	if err != nil {
		t.Fatal(err)
	}
	c, err := pool.ServiceAccount(other)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != b.Key || a.Email != b.Email {
		t.Errorf("same key file: got keys %p and %p, want one parsed key", a.Key, b.Key)
	}
	if c.Key == a.Key || c.Email == a.Email {
		t.Errorf("different key files share key %p (%s, %s)", c.Key, a.Email, c.Email)
	}
	if _, err := pool.ServiceAccount([]byte(`{"type":"service_account"}`)); err == nil {
		t.Error("a key file without client_email parsed")
	}
}

// TestPooledSignersVerify signs through two connectors that share one
// parsed key, on two buckets, and checks each URL with the independent
// verifier against the account's public key.
func TestPooledSignersVerify(t *testing.T) {
	pool := gcs.NewPool()
	keyJSON := testServiceAccount(t)
	for _, bucket := range []string{"bucket-a", "bucket-b"} {
		sa, err := pool.ServiceAccount(keyJSON)
		if err != nil {
			t.Fatal(err)
		}
		s, err := gcs.New(gcs.Config{Bucket: bucket, Endpoint: "http://127.0.0.1:4443"}, gcs.WithServiceAccount(sa))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Sign(context.Background(), signer.Grant{Key: "runs/1 a.bin", Operation: signer.OpRead, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(got.URL)
		if err != nil {
			t.Fatal(err)
		}
		if want := "/" + bucket + "/runs/1%20a.bin"; u.EscapedPath() != want {
			t.Errorf("path %q, want %q", u.EscapedPath(), want)
		}
		v, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host, Header: http.Header{}}, &sa.Key.PublicKey, time.Now())
		if err != nil || v.AccessID != sa.Email {
			t.Errorf("%s: Verify = %+v, %v; want signed by %s", bucket, v, err, sa.Email)
		}
	}
}

func TestWithServiceAccountNeedsAKey(t *testing.T) {
	if _, err := gcs.New(gcs.Config{Bucket: "b"}, gcs.WithServiceAccount(gcs.ServiceAccount{})); err == nil {
		t.Fatal("New with an empty service account and no key file succeeded")
	}
}
