package azblob_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/azblob"
	"github.com/signgate/signgate/signer/signertest"
)

// sasHMAC is the SAS signature written out with the standard library:
// base64(HMAC-SHA256(base64-decoded account key, UTF-8 string-to-sign)).
// TestLegacyVectors proves it against Microsoft-published signatures, so
// TestSignatureIsTheDocumentedHMAC can trust it as an independent check of
// what the SDK signs.
func sasHMAC(t *testing.T, key, stringToSign string) string {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, k)
	h.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

type legacyVector struct {
	UpstreamTest          string `json:"upstreamTest"`
	CanonicalizedResource string `json:"canonicalizedResource"`
	SP                    string `json:"sp"`
	ST                    string `json:"st"`
	SE                    string `json:"se"`
	SI                    string `json:"si"`
	SV                    string `json:"sv"`
	ExpectedSignature     string `json:"expectedSignature"`
}

// TestLegacyVectors checks the sv=2012-02-12 service SAS signatures from
// Microsoft's Node SDK tests. They prove sasHMAC, the format's HMAC over
// the documented string-to-sign. The Go SDK cannot make them: it signs the
// modern 16-field string-to-sign whatever Version says, and its time
// format cannot write three of the vectors' st/se values (see SOURCE.md);
// TestSignatureIsTheDocumentedHMAC checks that modern layout.
func TestLegacyVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(signertest.VectorDir(t, "azure-sas-legacy"), "legacy_sas_2012-02-12.transcribed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Key   string         `json:"accountKeyBase64"`
		Tests []legacyVector `json:"sasTests"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Tests) != 4 {
		t.Fatalf("%d sasTests, want 4", len(file.Tests))
	}
	ran := 0
	for _, v := range file.Tests {
		t.Run(v.UpstreamTest, func(t *testing.T) {
			sts := strings.Join([]string{v.SP, v.ST, v.SE, v.CanonicalizedResource, v.SI, v.SV}, "\n")
			if got := sasHMAC(t, file.Key, sts); got != v.ExpectedSignature {
				t.Errorf("signature = %s, want %s", got, v.ExpectedSignature)
			}
			ran++
		})
	}
	signertest.WantCases(t, "legacy Azure SAS cases", ran, 4)
}

// TestSignatureIsTheDocumentedHMAC parses the URLs Sign makes and checks
// each SAS field and that sig is sasHMAC over the modern string-to-sign
// documented for sv >= 2020-12-06 (see SOURCE.md).
func TestSignatureIsTheDocumentedHMAC(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 30, 15, 250e6, time.UTC)
	tests := []struct {
		name          string
		givenEndpoint string
		givenOp       signer.Operation
		givenKey      string
		wantSP        string
		wantSPR       string
	}{
		{"read on Azure", "", signer.OpRead, "report.pdf", "r", "https"},
		{"write on Azure", "", signer.OpWrite, "ünï/a+b %.txt", "cw", "https"},
		{"delete on Azure", "", signer.OpDelete, "dir/x", "d", "https"},
		{"write on Azurite", "http://127.0.0.1:10000/devstoreaccount1", signer.OpWrite, "a b/c", "cw", "https,http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := azblob.New(azblob.Config{Container: "images", Endpoint: tt.givenEndpoint, AccountName: devAccount, AccountKey: devKey},
				azblob.WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Sign(context.Background(), signer.Grant{Key: tt.givenKey, Operation: tt.givenOp, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			want := map[string]string{
				"sv": sas.Version, "sr": "b", "sp": tt.wantSP, "spr": tt.wantSPR,
				"se": "2026-11-27T11:30:15Z", "st": "",
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if q.Get("sv") < "2020-12-06" {
				t.Fatalf("sv %s predates the documented string-to-sign", q.Get("sv"))
			}
			sts := strings.Join([]string{
				q.Get("sp"), "", q.Get("se"),
				"/blob/" + devAccount + "/images/" + tt.givenKey,
				"", "", q.Get("spr"), q.Get("sv"), "b",
				"", "", "", "", "", "", "",
			}, "\n")
			if want := sasHMAC(t, devKey, sts); q.Get("sig") != want {
				t.Errorf("sig = %s, want %s over\n%s", q.Get("sig"), want, sts)
			}
		})
	}
}
