package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"

	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/iamfake"
)

type iamToken struct{}

func (iamToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: iamfake.Token, Type: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// keylessGCS is the nlp team's GCS connector signing through a signBlob
// stand-in, with at most concurrency calls in flight.
func keylessGCS(t *testing.T, timeout time.Duration, concurrency int) (*iamfake.Server, func(*options)) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const email = "url-signer@acme.iam.gserviceaccount.com"
	srv := iamfake.Start(email, key)
	t.Cleanup(srv.Close)
	m, err := gcs.NewIAM(context.Background(), gcs.IAMConfig{
		ServiceAccount: email, Endpoint: srv.URL, Timeout: timeout, Concurrency: concurrency,
		Credentials: auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: iamToken{}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	sg, err := gcs.New(gcs.Config{Bucket: "acme-nlp"}, gcs.WithIAM(m))
	if err != nil {
		t.Fatal(err)
	}
	return srv, func(o *options) { o.signers["nlp-gcs"] = sg }
}

func TestKeylessGCSFailureIs503WithoutURL(t *testing.T) {
	tests := []struct {
		name      string
		givenMode iamfake.Mode
	}{
		{"signBlob denied", iamfake.Deny},
		{"signBlob too slow", iamfake.Slow},
		{"signBlob answers garbage", iamfake.Garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, withGCS := keylessGCS(t, 150*time.Millisecond, 4)
			srv.SetMode(tt.givenMode)
			h := newHarness(t, withGCS)
			r := h.do(t, "POST", "/v1/sign", bobKey, `{"team":"nlp","operation":"read","object":"a.txt"}`)
			if r.status != 503 || r.body["code"] != "signer_error" || r.body["url"] != nil {
				t.Fatalf("got %d %s, want 503 signer_error without a URL", r.status, r.raw)
			}
			if strings.Contains(r.raw, "iam.serviceAccounts") || strings.Contains(r.raw, "url-signer@") {
				t.Errorf("the signBlob cause reached the client: %s", r.raw)
			}
		})
	}
}

// TestKeylessGCSBatchOfThousand signs a full batch through signBlob: one
// call per URL, never more in flight than the connector's pool.
func TestKeylessGCSBatchOfThousand(t *testing.T) {
	srv, withGCS := keylessGCS(t, 5*time.Second, 16)
	h := newHarness(t, withGCS)
	items := make([]string, 1000)
	for i := range items {
		items[i] = fmt.Sprintf(`{"team":"nlp","operation":"read","object":"batch/%04d.txt"}`, i)
	}
	start := time.Now()
	r := h.do(t, "POST", "/v1/sign/batch", bobKey, batchBody(items...))
	elapsed := time.Since(start)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	var out struct {
		Results []struct {
			Status int    `json:"status"`
			URL    string `json:"url"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, res := range out.Results {
		if res.Status == 200 && strings.Contains(res.URL, "X-Goog-Signature=") {
			ok++
		}
	}
	if ok != 1000 {
		t.Fatalf("%d of 1000 items signed", ok)
	}
	if got := srv.SignBlobs.Load(); got != 1000 {
		t.Errorf("%d signBlob calls, want one per URL", got)
	}
	if got := srv.MaxFlight.Load(); got > 16 {
		t.Errorf("%d signBlob calls in flight, over the pool of 16", got)
	}
	t.Logf("1000 URLs through signBlob: %d calls, at most %d in flight, %s", srv.SignBlobs.Load(), srv.MaxFlight.Load(), elapsed)
}
