package keyless

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs/iamfake"
	"github.com/signgate/signgate/tests/storage"
)

// TestGCSKeylessSigngateFromConfiguration runs the signgate binary with a
// GCS connector that has no key: Application Default Credentials from
// GOOGLE_APPLICATION_CREDENTIALS, signBlob at the test endpoint, and
// require_signers. Its URLs move bytes through the verifying proxy; with
// signBlob denied, /v1/sign answers 503 without a URL.
func TestGCSKeylessSigngateFromConfiguration(t *testing.T) {
	ctx := t.Context()
	sa, err := storage.NewServiceAccount("url-signer@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	gcsSrv, err := storage.StartGCS(ctx, sa)
	need(t, err)
	defer gcsSrv.Stop()
	if err := gcsSrv.CreateBucket(ctx, "acme-nlp"); err != nil {
		t.Fatal(err)
	}
	iam := iamfake.Start(sa.Email, sa.Key)
	defer iam.Close()

	dir := t.TempDir()
	bin, err := storage.BuildSigngate(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The caller's identity: a workload account whose token comes from the
	// test endpoint's token_uri; it holds no right to the bucket itself.
	caller, err := storage.NewServiceAccount("signgate@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	adc := filepath.Join(dir, "adc.json")
	if err := os.WriteFile(adc, iam.CredentialsJSON(caller.Email, keyPEM(t, caller.Key)), 0o600); err != nil {
		t.Fatal(err)
	}
	const apiKey = "keyless-e2e-key"
	sum := sha256.Sum256([]byte(apiKey))
	cfgFile := filepath.Join(dir, "signgate.yaml")
	var base string
	argv := func(port int) []string {
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
		cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
server: {require_signers: true}
auth:
  api_keys: [{sha256: %x, subject: alice, teams: [nlp]}]
connectors:
  nlp-gcs:
    provider: gcs
    bucket: acme-nlp
    endpoint: %s
    credentials: {impersonate_service_account: %s, iam_endpoint: %q, sign_timeout: 2s}
  # The embedded policy's other connectors, which this test does not use.
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1, endpoint: "http://127.0.0.1:9",
    credentials: {access_key_id_env: KEYLESS_AK, secret_access_key_env: KEYLESS_SK}}
  research-s3: {provider: s3, bucket: acme-research, region: us-east-1, endpoint: "http://127.0.0.1:9",
    credentials: {access_key_id_env: KEYLESS_AK, secret_access_key_env: KEYLESS_SK}}
  contractors-s3: {provider: s3, bucket: acme-contractors, region: us-east-1, endpoint: "http://127.0.0.1:9",
    credentials: {access_key_id_env: KEYLESS_AK, secret_access_key_env: KEYLESS_SK}}
  web-azure: {provider: azure, container: acme-web, endpoint: "http://127.0.0.1:9/devstoreaccount1",
    credentials: {account_name: devstoreaccount1, account_key_env: KEYLESS_AZ}}
audit: {sink: none}
`, port, sum, gcsSrv.Endpoint, sa.Email, iam.URL)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Error(err)
		}
		return []string{bin, "serve", "--config", cfgFile}
	}
	ready := func(ctx context.Context, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	}
	env := []string{"GOOGLE_APPLICATION_CREDENTIALS=" + adc, "GCE_METADATA_HOST=127.0.0.1:9",
		"KEYLESS_AK=unused", "KEYLESS_SK=unused", "KEYLESS_AZ=" + storage.AzuriteKey}
	p, _, err := storage.StartServer(ctx, "signgate-keyless", dir, env, argv, ready)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()

	sign := func(body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sign", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	signed := func(out map[string]any) signer.Signed {
		s := signer.Signed{Method: out["method"].(string), URL: out["url"].(string), Headers: map[string]string{}}
		if h, ok := out["headers"].(map[string]any); ok {
			for k, v := range h {
				s.Headers[k] = v.(string)
			}
		}
		return s
	}
	want := randomBytes(t, 32<<10)
	status, out := sign(`{"team":"nlp","operation":"write","object":"runs/1.bin"}`)
	if status != 200 {
		t.Fatalf("sign write: %d %v", status, out)
	}
	if got, body := send(t, signed(out), want); got != 200 {
		t.Fatalf("PUT: %d %s (proxy: %s)", got, body, gcsSrv.Proxy.LastRefusal())
	}
	status, out = sign(`{"team":"nlp","operation":"read","object":"runs/1.bin"}`)
	if status != 200 {
		t.Fatalf("sign read: %d %v", status, out)
	}
	if got, body := send(t, signed(out), nil); got != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET: %d, %d bytes, want the %d written", got, len(body), len(want))
	}
	if iam.Tokens.Load() == 0 {
		t.Error("signgate never fetched a token through the credentials' token_uri")
	}

	iam.SetMode(iamfake.Deny)
	status, out = sign(`{"team":"nlp","operation":"read","object":"runs/1.bin"}`)
	if status != http.StatusServiceUnavailable || out["code"] != "signer_error" || out["url"] != nil {
		t.Fatalf("with signBlob denied: %d %v, want 503 signer_error without a URL", status, out)
	}
	// require_signers: the next readiness check takes the service out.
	deadline := time.Now().Add(40 * time.Second)
	for ready(ctx, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("/readyz stayed 200 with signBlob denied and require_signers")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func keyPEM(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
