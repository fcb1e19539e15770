package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
)

func TestConnectorPoolsMakeOneEntraIDCredential(t *testing.T) {
	p := newConnectorPools()
	a, errA := p.entraID()
	b, errB := p.entraID()
	if errA != errB || (errA == nil && a != b) {
		t.Errorf("two user-delegation connectors got %p (%v) and %p (%v), want one credential", a, errA, b, errB)
	}
}

// TestBuildSignersSharesKeysByFile builds two GCS connectors on one key
// file and a third on another, and checks each URL against the public key
// of its own file: sharing never signs with another connector's key.
func TestBuildSignersSharesKeysByFile(t *testing.T) {
	dir := t.TempDir()
	keys := map[string]gcs.ServiceAccount{}
	for _, name := range []string{"a", "b"} {
		b, err := gcs.GenerateServiceAccountJSON(name + "@signgate-test.iam.gserviceaccount.com")
		if err != nil {
			t.Fatal(err)
		}
		if keys[name], err = gcs.ParseServiceAccountJSON(b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fileOf := map[string]string{"one": "a", "two": "a", "three": "b"}
	cfg := &config.Config{Connectors: map[string]config.Connector{}}
	for name, file := range fileOf {
		cn := config.Connector{Provider: "gcs", Bucket: "bucket-" + name, Endpoint: "http://127.0.0.1:4443"}
		cn.Credentials.ServiceAccountFile = filepath.Join(dir, file+".json")
		cfg.Connectors[name] = cn
	}
	signers, err := buildSigners(context.Background(), cfg, secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) != len(fileOf) {
		t.Fatalf("%d signers, want %d", len(signers), len(fileOf))
	}
	for name, file := range fileOf {
		got, err := signers[name].Sign(context.Background(), signer.Grant{Key: "x.bin", Operation: signer.OpRead, TTL: time.Minute})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		u, err := url.Parse(got.URL)
		if err != nil {
			t.Fatal(err)
		}
		sa := keys[file]
		v, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host, Header: http.Header{}}, &sa.Key.PublicKey, time.Now())
		if err != nil || v.AccessID != sa.Email {
			t.Errorf("connector %s: Verify with key file %s = %+v, %v", name, file, v, err)
		}
	}
}
