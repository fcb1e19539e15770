// Package keyless checks the keyless signing modes against real storage
// servers: URLs signed through a signBlob stand-in move real bytes through
// the verifying proxy in front of fake-gcs-server, user-delegation SAS
// through Azurite, and URLs from assumed-role credentials through versitygw.
package keyless

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/iamfake"
	"github.com/signgate/signgate/tests/storage"
)

type bearer struct{}

func (bearer) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: iamfake.Token, Type: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// need skips (loudly) when a server is not installed, unless the
// end-to-end tests are required, and fails when it did not start.
func need(t *testing.T, err error) {
	t.Helper()
	switch {
	case storage.IsNotInstalled(err):
		storage.SkipOrFail(t, err.Error())
	case err != nil:
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// send makes the request a client makes with a signed URL.
func send(t *testing.T, s signer.Signed, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(s.Method, s.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, got
}

func TestGCSSignBlobURLsMoveBytesThroughTheVerifyingProxy(t *testing.T) {
	ctx := t.Context()
	sa, err := storage.NewServiceAccount("url-signer@signgate-test.iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := storage.StartGCS(ctx, sa)
	need(t, err)
	defer srv.Stop()
	// signBlob holds the account's key; signgate never sees it.
	iam := iamfake.Start(sa.Email, sa.Key)
	defer iam.Close()
	m, err := gcs.NewIAM(ctx, gcs.IAMConfig{ServiceAccount: sa.Email, Endpoint: iam.URL,
		Credentials: auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: bearer{}})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sg, err := gcs.New(gcs.Config{Bucket: "keyless", Endpoint: srv.Endpoint}, gcs.WithIAM(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateBucket(ctx, "keyless"); err != nil {
		t.Fatal(err)
	}
	want := randomBytes(t, 64<<10)
	key := "nlp/run 1/ü.bin"
	put, err := sg.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpWrite, TTL: time.Minute, ContentType: "application/octet-stream", DecisionID: "d-put"})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, put, want); status != 200 {
		t.Fatalf("PUT: %d %s (proxy: %s)", status, body, srv.Proxy.LastRefusal())
	}
	stored, found, err := srv.GetObject(ctx, "keyless", key)
	if err != nil || !found || !bytes.Equal(stored, want) {
		t.Fatalf("stored %d bytes (found %v, %v), want the %d sent", len(stored), found, err, len(want))
	}
	get, err := sg.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpRead, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := send(t, get, nil); status != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET: %d, %d bytes", status, len(body))
	}

	t.Run("refuses the URL altered", func(t *testing.T) {
		for name, edit := range map[string]func(string) string{
			"another key":   func(u string) string { return strings.Replace(u, "/nlp/", "/vision/", 1) },
			"longer expiry": func(u string) string { return strings.Replace(u, "X-Goog-Expires=60", "X-Goog-Expires=3600", 1) },
		} {
			altered := get
			altered.URL = edit(get.URL)
			if altered.URL == get.URL {
				t.Fatalf("%s: the edit changed nothing in %s", name, get.URL)
			}
			if status, _ := send(t, altered, nil); status != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, status)
			}
		}
	})
	t.Run("gives no URL when signBlob is denied", func(t *testing.T) {
		iam.SetMode(iamfake.Deny)
		defer iam.SetMode(iamfake.Sign)
		got, err := sg.Sign(ctx, signer.Grant{Key: key, Operation: signer.OpRead, TTL: time.Minute})
		if err == nil || got.URL != "" {
			t.Fatalf("Sign = %q, %v; want an error and no URL", got.URL, err)
		}
	})
}
