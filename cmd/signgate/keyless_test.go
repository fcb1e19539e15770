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
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
	"github.com/signgate/signgate/signer/gcs/iamfake"
	"github.com/signgate/signgate/signer/s3"
	"github.com/signgate/signgate/signer/s3/stsfake"
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

// TestS3AssumeRoleFromConfiguration assumes the connector's role through
// an STS stand-in, with a session policy scoped to the prefixes that the
// embedded policy data gives the teams on the connector.
func TestS3AssumeRoleFromConfiguration(t *testing.T) {
	sts := stsfake.Start("ASIAEXAMPLESESSION", "session-secret")
	defer sts.Close()
	t.Setenv("KEYLESS_TEST_AK", "AKIABASEEXAMPLE")
	t.Setenv("KEYLESS_TEST_SK", "base-secret")
	// The default chain, under research-s3's role: from the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIADEFAULTCHAIN")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "default-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sum := sha256.Sum256([]byte("k"))
	cfg, err := config.Parse(fmt.Appendf(nil, `
auth:
  api_keys: [{sha256: %x, subject: a}]
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: eu-west-1,
    credentials: {access_key_id_env: KEYLESS_TEST_AK, secret_access_key_env: KEYLESS_TEST_SK,
      role_arn: "arn:aws:iam::123456789012:role/signgate-vision", external_id: ext-1, session_name: signgate-vision, duration: 1h, sts_endpoint: %q}}
  research-s3: {provider: s3, bucket: acme-research, region: eu-west-1,
    credentials: {role_arn: "arn:aws:iam::123456789012:role/signgate-research", session_policy: none, sts_endpoint: %q}}
`, sum, sts.URL, sts.URL))
	if err != nil {
		t.Fatal(err)
	}
	signers, err := buildSigners(context.Background(), cfg, secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := signers["vision-s3"].Sign(context.Background(), signer.Grant{Key: "vision/a.png", Operation: signer.OpRead, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.URL, "X-Amz-Security-Token=") || !strings.Contains(got.URL, "ASIAEXAMPLESESSION") {
		t.Errorf("URL not signed by the role's session: %s", got.URL)
	}
	form, auth := sts.Last()
	if form.Get("RoleArn") != "arn:aws:iam::123456789012:role/signgate-vision" || form.Get("ExternalId") != "ext-1" ||
		form.Get("RoleSessionName") != "signgate-vision" || form.Get("DurationSeconds") != "3600" {
		t.Errorf("AssumeRole form: %v", form)
	}
	if !strings.Contains(auth, "Credential=AKIABASEEXAMPLE/") {
		t.Errorf("AssumeRole not signed with the configured base keys: %s", auth)
	}
	want, err := s3.SessionPolicy("aws", "acme-vision", []string{"vision/", "media/"})
	if err != nil {
		t.Fatal(err)
	}
	if form.Get("Policy") != want {
		t.Errorf("session policy:\n%s\nwant:\n%s", form.Get("Policy"), want)
	}
	// session_policy: none sends no policy; the default chain signs the call.
	if _, err := signers["research-s3"].Sign(context.Background(), signer.Grant{Key: "research/a", Operation: signer.OpRead, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if form, auth := sts.Last(); form.Has("Policy") || !strings.Contains(auth, "Credential=AKIADEFAULTCHAIN/") {
		t.Errorf("session_policy: none: policy %q, signed as %s", form.Get("Policy"), auth)
	}
}
