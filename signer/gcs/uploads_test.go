package gcs_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
	"github.com/signgate/signgate/signer/gcs/gcsverify"
)

func newTestSigner(t *testing.T, endpoint string) (*gcs.Signer, gcs.ServiceAccount) {
	t.Helper()
	raw := testServiceAccount(t)
	sa, err := gcs.ParseServiceAccountJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gcs.New(gcs.Config{Bucket: "test-bucket", Endpoint: endpoint, ServiceAccountJSON: raw})
	if err != nil {
		t.Fatal(err)
	}
	return s, sa
}

// TestResumableStartIsBoundToItsHeaders checks the signed start URL the
// way Google would (gcsverify): it verifies only as a POST carrying
// x-goog-resumable: start, the signed size range and content type.
func TestResumableStartIsBoundToItsHeaders(t *testing.T) {
	s, sa := newTestSigner(t, "http://127.0.0.1:4443")
	up, err := s.StartUpload(context.Background(), signer.UploadGrant{
		Key: "nlp/ckpt 1.bin", Size: 12 << 20, PartSize: 5 << 20, TTL: time.Hour, ContentType: "application/octet-stream", DecisionID: "d-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Flow != signer.FlowGCSResumable || up.Start == nil || up.Complete != nil || len(up.Parts) != 3 {
		t.Fatalf("upload %+v", up)
	}
	wantHeaders := map[string]string{"x-goog-resumable": "start", "x-goog-content-length-range": "0,12582912", "Content-Type": "application/octet-stream"}
	if !equalMaps(up.Start.Headers, wantHeaders) || up.Start.Method != "POST" {
		t.Fatalf("start %s %v, want POST %v", up.Start.Method, up.Start.Headers, wantHeaders)
	}
	u, err := url.Parse(up.Start.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get(signer.DecisionParam) != "d-1" {
		t.Errorf("start URL %s lacks the decision id", up.Start.URL)
	}
	verify := func(method string, h map[string]string) error {
		hdr := http.Header{}
		for k, v := range h {
			hdr.Set(k, v)
		}
		_, err := gcsverify.Verify(gcsverify.Request{Method: method, URL: u, Host: u.Host, Header: hdr}, &sa.Key.PublicKey, time.Now())
		return err
	}
	if err := verify("POST", wantHeaders); err != nil {
		t.Fatalf("the start as signed does not verify: %v", err)
	}
	without := func(name string) map[string]string {
		h := map[string]string{}
		for k, v := range wantHeaders {
			if k != name {
				h[k] = v
			}
		}
		return h
	}
	with := func(name, value string) map[string]string {
		h := without(name)
		h[name] = value
		return h
	}
	refusals := []struct {
		name   string
		method string
		header map[string]string
		want   error
	}{
		{"without x-goog-resumable", "POST", without("x-goog-resumable"), gcsverify.ErrMissingHeader},
		{"with a larger size range", "POST", with("x-goog-content-length-range", "0,99999999999"), gcsverify.ErrBadSignature},
		{"with another content type", "POST", with("Content-Type", "text/html"), gcsverify.ErrBadSignature},
		{"used as a PUT", "PUT", wantHeaders, gcsverify.ErrBadSignature},
	}
	for _, r := range refusals {
		t.Run("refuses the start "+r.name, func(t *testing.T) {
			if err := verify(r.method, r.header); !errors.Is(err, r.want) {
				t.Errorf("err = %v, want %v", err, r.want)
			}
		})
	}
	wantRanges := []string{"bytes 0-5242879/12582912", "bytes 5242880-10485759/12582912", "bytes 10485760-12582911/12582912"}
	for i, p := range up.Parts {
		if p.URL != "" || p.Method != "PUT" || p.Headers["Content-Range"] != wantRanges[i] {
			t.Errorf("part %d: %s %q %v, want PUT to the session URI with %s", p.Number, p.Method, p.URL, p.Headers, wantRanges[i])
		}
	}
}

func TestResumableRefusesChunksOffGCSGranularity(t *testing.T) {
	s, _ := newTestSigner(t, "")
	_, err := s.StartUpload(context.Background(), signer.UploadGrant{Key: "k", Size: 12 << 20, PartSize: 5<<20 + 1024, TTL: time.Hour})
	if !errors.Is(err, signer.ErrInvalidPlan) {
		t.Fatalf("err = %v, want ErrInvalidPlan", err)
	}
}

func TestSignFormBindsTheGrantsLimits(t *testing.T) {
	s, sa := newTestSigner(t, "http://127.0.0.1:4443")
	tests := []struct {
		name      string
		given     signer.FormGrant
		wantConds []string
		wantField map[string]string
	}{
		{"bounds the size", signer.FormGrant{Key: "k", TTL: time.Minute, MaxBytes: 2048}, []string{`["content-length-range",0,2048]`}, nil},
		{"binds a content type prefix", signer.FormGrant{Key: "k", TTL: time.Minute, ContentType: "image/", ContentTypePrefix: true}, []string{`["starts-with","$Content-Type","image/"]`}, nil},
		{"binds an exact content type", signer.FormGrant{Key: "k", TTL: time.Minute, ContentType: "image/png"}, []string{`{"content-type":"image/png"}`}, map[string]string{"content-type": "image/png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			form, err := s.SignForm(context.Background(), tt.given)
			if err != nil {
				t.Fatal(err)
			}
			if form.URL != "http://127.0.0.1:4443/test-bucket/" {
				t.Errorf("URL %s", form.URL)
			}
			if form.ExpiresAt.Before(before.Add(time.Minute)) || form.ExpiresAt.After(time.Now().Add(time.Minute)) {
				t.Errorf("ExpiresAt %s, want now + 1m", form.ExpiresAt)
			}
			raw, _ := base64.StdEncoding.DecodeString(form.Fields["policy"])
			var policy struct {
				Conditions []json.RawMessage `json:"conditions"`
				Expiration time.Time         `json:"expiration"`
			}
			if err := json.Unmarshal(raw, &policy); err != nil {
				t.Fatal(err)
			}
			if !policy.Expiration.Equal(form.ExpiresAt) {
				t.Errorf("policy expiration %s, ExpiresAt %s", policy.Expiration, form.ExpiresAt)
			}
			conds := string(raw)
			for _, want := range append(tt.wantConds, `{"bucket":"test-bucket"}`, `{"key":"k"}`) {
				if !strings.Contains(conds, want) {
					t.Errorf("policy %s lacks %s", conds, want)
				}
			}
			for k, v := range tt.wantField {
				if form.Fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, form.Fields[k], v)
				}
			}
			if err := verifySignature(sa, form.Fields["policy"], form.Fields["x-goog-signature"]); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestGCSEnforces(t *testing.T) {
	s, _ := newTestSigner(t, "")
	for _, tt := range []struct {
		flow signer.Flow
		c    signer.Constraint
		want bool
	}{
		{signer.FlowURL, signer.ContentType, true},
		{signer.FlowURL, signer.ContentMD5, true},
		{signer.FlowURL, signer.MaxBytes, false},
		{signer.FlowForm, signer.MaxBytes, true},
		{signer.FlowForm, signer.ContentType, true},
		{signer.FlowForm, signer.ContentMD5, false},
		{signer.FlowUpload, signer.MaxBytes, true},
		{signer.FlowUpload, signer.ContentType, true},
		{signer.FlowUpload, signer.ContentMD5, false},
	} {
		if got := s.Enforces(tt.flow, tt.c); got != tt.want {
			t.Errorf("Enforces(%s, %s) = %v, want %v", tt.flow, tt.c, got, tt.want)
		}
	}
}

func TestSignBindsContentMD5(t *testing.T) {
	s, sa := newTestSigner(t, "")
	md5 := "1B2M2Y8AsgTpgAmY7PhCfg=="
	signed, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpWrite, TTL: time.Minute, ContentMD5: md5})
	if err != nil {
		t.Fatal(err)
	}
	if signed.Headers["Content-MD5"] != md5 {
		t.Fatalf("headers %v", signed.Headers)
	}
	u, _ := url.Parse(signed.URL)
	req := gcsverify.Request{Method: "PUT", URL: u, Host: u.Host, Header: http.Header{"Content-Md5": {md5}}}
	if _, err := gcsverify.Verify(req, &sa.Key.PublicKey, time.Now()); err != nil {
		t.Fatalf("with its Content-MD5: %v", err)
	}
	req.Header = http.Header{}
	if _, err := gcsverify.Verify(req, &sa.Key.PublicKey, time.Now()); !errors.Is(err, gcsverify.ErrMissingHeader) {
		t.Fatalf("without Content-MD5: err = %v, want ErrMissingHeader", err)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// verifySignature checks a POST policy's hex x-goog-signature with the
// service account's public key.
func verifySignature(sa gcs.ServiceAccount, policy, sigHex string) error {
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(policy))
	return rsa.VerifyPKCS1v15(&sa.Key.PublicKey, crypto.SHA256, sum[:], sig)
}
