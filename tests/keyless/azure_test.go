package keyless

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azsdk "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/signgate/signgate/internal/testtls"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/tests/storage"
)

// entraToken stands in for an Entra ID credential: Azurite's --oauth basic
// checks a bearer token's issuer, audience and lifetime, not its signature,
// and derives the delegation key from the token's oid and tid.
type entraToken struct{}

func (entraToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer("https://sts.windows.net/66666666-7777-8888-9999-000000000000/").
		Audience([]string{"https://storage.azure.com"}).
		NotBefore(now.Add(-time.Minute)).IssuedAt(now).Expiration(now.Add(time.Hour)).
		Claim("oid", "11111111-2222-3333-4444-555555555555").
		Claim("tid", "66666666-7777-8888-9999-000000000000").
		Build()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	tok.Options().Enable(jwt.FlattenAudience) // Azurite wants aud as a string
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), key))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: string(signed), ExpiresOn: now.Add(time.Hour)}, nil
}

// azuriteOAuth is azurite-blob with --oauth basic, which needs HTTPS, under
// the production-style host <account>.blob.localhost.
type azuriteOAuth struct {
	endpoint  string // https://devstoreaccount1.blob.localhost:PORT
	transport *http.Transport
	client    *azsdk.Client // shared key, for set-up and checks
	stop      func()
}

func startAzuriteOAuth(t *testing.T) *azuriteOAuth {
	t.Helper()
	root, err := storage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(root, "tests", "node_modules", ".bin", "azurite-blob")
	if info, err := os.Stat(exe); err != nil || info.IsDir() {
		storage.SkipOrFail(t, fmt.Sprintf("SKIPPED: azurite-blob %v at %s; run: cd tests && npm ci", storage.ErrNotInstalled, exe))
	}
	host := storage.AzuriteAccount + ".blob.localhost"
	cert, err := testtls.New(host)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, cert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, cert.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	shared, err := azsdk.NewSharedKeyCredential(storage.AzuriteAccount, storage.AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	a := &azuriteOAuth{}
	clientFor := func(port int) (*azsdk.Client, error) {
		a.transport = cert.Transport(fmt.Sprintf("127.0.0.1:%d", port))
		a.endpoint = fmt.Sprintf("https://%s:%d", host, port)
		opts := &azsdk.ClientOptions{}
		opts.Transport = &http.Client{Transport: a.transport}
		opts.Retry.MaxRetries = -1
		return azsdk.NewClientWithSharedKeyCredential(a.endpoint, shared, opts)
	}
	argv := func(port int) []string {
		return []string{exe, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
			"--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent",
			"--oauth", "basic", "--cert", certFile, "--key", keyFile}
	}
	ready := func(ctx context.Context, port int) error {
		c, err := clientFor(port)
		if err != nil {
			return err
		}
		_, err = c.NewListContainersPager(nil).NextPage(ctx)
		return err
	}
	p, port, err := storage.StartServer(t.Context(), "azurite-blob-oauth", dir, nil, argv, ready)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if a.client, err = clientFor(port); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAzureUserDelegationSASAgainstAzurite(t *testing.T) {
	az := startAzuriteOAuth(t)
	ctx := t.Context()
	const container = "keyless"
	if _, err := az.client.CreateContainer(ctx, container, nil); err != nil {
		t.Fatal(err)
	}
	opts := &service.ClientOptions{}
	opts.Transport = &http.Client{Transport: az.transport}
	sg, err := azblob.New(azblob.Config{Container: container, Endpoint: az.endpoint, AccountName: storage.AzuriteAccount,
		TokenCredential: entraToken{}, DelegationKeyLifetime: 2 * time.Hour, ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: az.transport}
	do := func(s signer.Signed, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, s.Method, s.URL, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range s.Headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	want := randomBytes(t, 64<<10)
	key := "web/run 1/ü.bin"
	put, err := sg.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpWrite, TTL: 24 * time.Hour, DecisionID: "d-put"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(put.URL, "skoid=") {
		t.Fatalf("not a user-delegation SAS: %s", put.URL)
	}
	if put.ClampedBy != signer.ClampedByCredential || put.ExpiresAt.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("a 24h URL on a 2h key: ExpiresAt %s, ClampedBy %q", put.ExpiresAt, put.ClampedBy)
	}
	if status, body := do(put, want); status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", status, body)
	}
	dl, err := az.client.DownloadStream(ctx, container, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	if *dl.ContentLength != int64(len(want)) {
		t.Fatalf("stored %d bytes, want %d", *dl.ContentLength, len(want))
	}
	get, err := sg.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpRead, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := do(get, nil); status != http.StatusOK || string(body) != string(want) {
		t.Fatalf("GET: %d, %d bytes, want the %d written", status, len(body), len(want))
	}

	t.Run("refuses the URL altered", func(t *testing.T) {
		for name, edit := range map[string]func(string) string{
			"another blob":       func(u string) string { return strings.Replace(u, "/web/", "/vision/", 1) },
			"more permissions":   func(u string) string { return strings.Replace(u, "sp=r&", "sp=rwd&", 1) },
			"another key object": func(u string) string { return strings.Replace(u, "skoid=1111", "skoid=2222", 1) },
		} {
			altered := get
			altered.URL = edit(get.URL)
			if altered.URL == get.URL {
				t.Fatalf("%s: the edit changed nothing in %s", name, get.URL)
			}
			if status, _ := do(altered, nil); status != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, status)
			}
		}
	})
	t.Run("fails without a URL when Entra ID refuses", func(t *testing.T) {
		bad, err := azblob.New(azblob.Config{Container: container, Endpoint: az.endpoint, AccountName: storage.AzuriteAccount,
			TokenCredential: failingToken{}, ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		got, err := bad.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpRead, TTL: time.Minute})
		if !errors.Is(err, signer.ErrUnavailable) || got.URL != "" {
			t.Fatalf("Sign = %q, %v", got.URL, err)
		}
	})
}

type failingToken struct{}

func (failingToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("AADSTS7000215: invalid client secret")
}
