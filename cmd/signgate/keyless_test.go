package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
	"github.com/signgate/signgate/signer/gcs/iamfake"
)

// keylessConfig is a configuration with one connector whose credentials
// are given.
func keylessConfig(t *testing.T, connector string) *config.Config {
	t.Helper()
	sum := sha256.Sum256([]byte("k"))
	cfg, err := config.Parse(fmt.Appendf(nil, "auth:\n  api_keys: [{sha256: %x, subject: a}]\nconnectors:\n  c: %s\n", sum, connector))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestGCSKeylessFromConfiguration builds a GCS connector from the
// configuration alone: Application Default Credentials from
// GOOGLE_APPLICATION_CREDENTIALS, signBlob at iam_endpoint, impersonating
// the signing account.
func TestGCSKeylessFromConfiguration(t *testing.T) {
	const signing = "url-signer@signgate-test.iam.gserviceaccount.com"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iam := iamfake.Start(signing, key)
	defer iam.Close()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	adc := filepath.Join(t.TempDir(), "adc.json")
	caller := iam.CredentialsJSON("workload@signgate-test.iam.gserviceaccount.com", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	if err := os.WriteFile(adc, caller, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", adc)
	cfg := keylessConfig(t, fmt.Sprintf(`{provider: gcs, bucket: b, credentials: {impersonate_service_account: %s, iam_endpoint: %q, sign_timeout: 2s, sign_concurrency: 4}}`, signing, iam.URL))
	signers, err := buildSigners(context.Background(), cfg, secret)
	if err != nil {
		t.Fatal(err)
	}
	sg := signers["c"]
	if r, ok := sg.(signer.RemoteSigner); !ok || r.SignConcurrency() != 4 {
		t.Fatalf("signer %T is not a remote signer with a pool of 4", sg)
	}
	got, err := sg.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
	if err != nil {
		t.Fatalf("Sign: %v (%s)", err, iam.LastRefusal())
	}
	u, _ := url.Parse(got.URL)
	v, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host}, &key.PublicKey, time.Now())
	if err != nil || v.AccessID != signing {
		t.Fatalf("Verify: %v (signed as %v)", err, v)
	}
}

// TestAzureUserDelegationFromConfiguration builds an Azure connector that
// holds no account key. Without any Entra ID identity in the environment it
// still starts, and signing fails without a URL.
func TestAzureUserDelegationFromConfiguration(t *testing.T) {
	for _, env := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"} {
		t.Setenv(env, "")
	}
	cfg := keylessConfig(t, `{provider: azure, container: images, credentials: {account_name: acme, user_delegation: true, delegation_key_lifetime: 24h}}`)
	signers, err := buildSigners(context.Background(), cfg, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := signers["c"].Sign(ctx, signer.Grant{Key: "k", Operation: signer.OpRead, TTL: time.Minute})
	if !errors.Is(err, signer.ErrUnavailable) || got.URL != "" {
		t.Fatalf("Sign = %q, %v; want no URL and signer.ErrUnavailable", got.URL, err)
	}
}
