package gcs_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
	"github.com/signgate/signgate/signer/signertest"
)

// vector is one of googleapis/conformance-tests' signingV4Tests.
type vector struct {
	Description              string            `json:"description"`
	Bucket                   string            `json:"bucket"`
	Object                   string            `json:"object"`
	Method                   string            `json:"method"`
	Headers                  map[string]string `json:"headers"`
	QueryParameters          map[string]string `json:"queryParameters"`
	URLStyle                 string            `json:"urlStyle"`
	Expiration               int64             `json:"expiration"`
	Timestamp                time.Time         `json:"timestamp"`
	ExpectedURL              string            `json:"expectedUrl"`
	ExpectedCanonicalRequest string            `json:"expectedCanonicalRequest"`
	ExpectedStringToSign     string            `json:"expectedStringToSign"`
}

// dummyServiceAccount is Google's published, inactive key that signed the
// vectors.
func dummyServiceAccount(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(signertest.VectorDir(t, "googleapis-conformance-tests"), "test_service_account.not-a-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadVectors(t *testing.T) ([]vector, gcs.ServiceAccount, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(signertest.VectorDir(t, "googleapis-conformance-tests"), "v4_signatures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		SigningV4Tests []vector `json:"signingV4Tests"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if n := len(file.SigningV4Tests); n != 29 {
		t.Fatalf("%d signingV4Tests, want Google's 29", n)
	}
	raw := dummyServiceAccount(t)
	sa, err := gcs.ParseServiceAccountJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return file.SigningV4Tests, sa, raw
}

// TestVectorSignaturesAreTheDummyKeys checks the data: every expectedUrl's
// X-Goog-Signature is the dummy key's signature of expectedStringToSign.
func TestVectorSignaturesAreTheDummyKeys(t *testing.T) {
	vectors, sa, _ := loadVectors(t)
	ran := 0
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			u, err := url.Parse(v.ExpectedURL)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := hex.DecodeString(u.Query().Get("X-Goog-Signature"))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(v.ExpectedStringToSign))
			if err := rsa.VerifyPKCS1v15(&sa.Key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
				t.Errorf("X-Goog-Signature does not verify over expectedStringToSign: %v", err)
			}
			ran++
		})
	}
	signertest.WantCases(t, "GCS V4 cases", ran, 29)
}

// inexpressible says why a vector cannot go through Sign, or "".
func inexpressible(v vector) string {
	switch {
	case v.Method != "GET" && v.Method != "PUT" && v.Method != "DELETE":
		return fmt.Sprintf("method %s is no signgate operation", v.Method)
	case v.Object == "":
		return "no object: a grant names one object"
	case len(v.Headers) > 0:
		return fmt.Sprintf("extension headers %v: a grant binds only Content-Type", v.Headers)
	case len(v.QueryParameters) > 0:
		return fmt.Sprintf("query parameters %v: a grant adds none", v.QueryParameters)
	case v.URLStyle != "" && v.URLStyle != "PATH_STYLE":
		return fmt.Sprintf("%s: the signer makes path-style URLs only", v.URLStyle)
	}
	return ""
}

// TestSignerReproducesVectors signs each vector that a Grant can express,
// now (storage.SignedURL cannot be given the vector's time), with the dummy
// key through Sign. The endpoint is the expectedUrl's scheme and host, which
// is what the vector's hostname, clientEndpoint, emulatorHostname or
// universeDomain resolve to. The result must verify with gcsverify (proven
// against every vector in its own tests) and its canonical request must be
// the vector's, with only the date changed.
func TestSignerReproducesVectors(t *testing.T) {
	vectors, sa, raw := loadVectors(t)
	ops := map[string]signer.Operation{"GET": signer.OpRead, "PUT": signer.OpWrite, "DELETE": signer.OpDelete}
	ran := 0
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			if reason := inexpressible(v); reason != "" {
				t.Skip(reason)
			}
			want, err := url.Parse(v.ExpectedURL)
			if err != nil {
				t.Fatal(err)
			}
			endpoint := want.Scheme + "://" + want.Host
			if endpoint == "https://storage.googleapis.com" {
				endpoint = "" // the default
			}
			s, err := gcs.New(gcs.Config{Bucket: v.Bucket, Endpoint: endpoint, ServiceAccountJSON: raw})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Sign(context.Background(), signer.Grant{Key: v.Object, Operation: ops[v.Method], TTL: time.Duration(v.Expiration) * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got.URL)
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != want.Scheme || u.Host != want.Host || u.EscapedPath() != want.EscapedPath() {
				t.Errorf("URL %s://%s%s, want %s://%s%s", u.Scheme, u.Host, u.EscapedPath(), want.Scheme, want.Host, want.EscapedPath())
			}
			verified, err := gcsverify.Verify(gcsverify.Request{Method: got.Method, URL: u, Host: u.Host}, &sa.Key.PublicKey, time.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantCanonical := strings.NewReplacer(
				v.Timestamp.Format("20060102T150405Z"), verified.Date.Format("20060102T150405Z"),
				v.Timestamp.Format("20060102"), verified.Date.Format("20060102"),
			).Replace(v.ExpectedCanonicalRequest)
			if verified.CanonicalRequest != wantCanonical {
				t.Errorf("canonical request:\n%s\nwant\n%s", verified.CanonicalRequest, wantCanonical)
			}
			if wantAt := verified.Date.Add(time.Duration(v.Expiration) * time.Second); !got.ExpiresAt.Equal(wantAt) {
				t.Errorf("ExpiresAt = %s, want %s", got.ExpiresAt, wantAt)
			}
			ran++
		})
	}
	signertest.WantCases(t, "GCS V4 cases through Sign", ran, 13)
}
