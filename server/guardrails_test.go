package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
)

// guarded is a team on each connector whose writes carry constraints.
func guarded(constraints map[string]any) map[string]any {
	extra := map[string]any{"upload_constraints": constraints, "members": []any{"alice"}}
	return map[string]any{
		"s3team":    teamData("vision-s3", "s3team/", extra),
		"azureteam": teamData("web-azure", "azureteam/", extra),
	}
}

func TestConstraintsAreEnforcedOrRefused(t *testing.T) {
	md5 := "1B2M2Y8AsgTpgAmY7PhCfg=="
	tests := []struct {
		name            string
		givenConstraint map[string]any
		givenBody       string
		wantStatus      int
		wantCode        string
		wantSigned      []string // in the URL's X-Amz-SignedHeaders, or the form's policy
		wantUnenforced  string
		wantDetail      string // the fix the problem names
	}{
		{name: "a form bounds max_bytes on S3", givenConstraint: map[string]any{"max_bytes": 1024},
			givenBody: `{"team":"s3team","operation":"write","object":"a","form":true}`, wantStatus: 200, wantSigned: []string{`["content-length-range",0,1024]`}},
		{name: "a form binds a content type prefix on S3", givenConstraint: map[string]any{"content_type": "image/"},
			givenBody: `{"team":"s3team","operation":"write","object":"a","form":true}`, wantStatus: 200, wantSigned: []string{`["starts-with","$Content-Type","image/"]`}},
		{name: "a form binds the request's type within the prefix", givenConstraint: map[string]any{"content_type": "image/"},
			givenBody: `{"team":"s3team","operation":"write","object":"a","form":true,"content_type":"image/png"}`, wantStatus: 200, wantSigned: []string{`["eq","$Content-Type","image/png"]`}},
		{name: "a PUT URL cannot bound max_bytes", givenConstraint: map[string]any{"max_bytes": 1024},
			givenBody: `{"team":"s3team","operation":"write","object":"a"}`, wantStatus: 422, wantCode: "constraint_unenforceable",
			wantDetail: `max_bytes in this flow (s3 url); use \"form\": true or POST /v1/uploads`},
		{name: "a PUT URL issued with an advisory max_bytes says so", givenConstraint: map[string]any{"max_bytes": 1024, "advisory": []any{"max_bytes"}},
			givenBody: `{"team":"s3team","operation":"write","object":"a"}`, wantStatus: 200, wantSigned: []string{"SignedHeaders=host&"}, wantUnenforced: "[max_bytes]"},
		{name: "a PUT URL binds an exact content type the request left out", givenConstraint: map[string]any{"content_type": "application/pdf"},
			givenBody: `{"team":"s3team","operation":"write","object":"a"}`, wantStatus: 200, wantSigned: []string{"SignedHeaders=content-type%3Bhost", `"Content-Type":"application/pdf"`}},
		{name: "a PUT URL cannot bind a prefix without the request's type", givenConstraint: map[string]any{"content_type": "image/"},
			givenBody: `{"team":"s3team","operation":"write","object":"a"}`, wantStatus: 422, wantCode: "constraint_unenforceable",
			wantDetail: `send the request's \"content_type\" (within the policy's prefix), or use \"form\": true`},
		{name: "a PUT URL binds content_md5 on S3", givenConstraint: map[string]any{"content_md5": md5},
			givenBody: `{"team":"s3team","operation":"write","object":"a"}`, wantStatus: 200, wantSigned: []string{"SignedHeaders=content-md5%3Bhost"}},
		{name: "a form cannot bind content_md5", givenConstraint: map[string]any{"content_md5": md5},
			givenBody: `{"team":"s3team","operation":"write","object":"a","form":true}`, wantStatus: 422, wantCode: "constraint_unenforceable",
			wantDetail: `use a PUT URL (\"form\": false)`},
		{name: "Azure cannot bind max_bytes", givenConstraint: map[string]any{"max_bytes": 1024},
			givenBody: `{"team":"azureteam","operation":"write","object":"a"}`, wantStatus: 422, wantCode: "constraint_unenforceable",
			wantDetail: "no flow of azure can enforce it; the policy may mark it advisory"},
		{name: "Azure has no form at all", givenConstraint: map[string]any{"max_bytes": 1024},
			givenBody: `{"team":"azureteam","operation":"write","object":"a","form":true}`, wantStatus: 422, wantCode: "unsupported_by_provider"},
		{name: "Azure signs when every constraint is advisory", givenConstraint: map[string]any{"max_bytes": 1024, "content_type": "image/", "advisory": []any{"content_type", "max_bytes"}},
			givenBody: `{"team":"azureteam","operation":"write","object":"a"}`, wantStatus: 200, wantUnenforced: "[content_type max_bytes]"},
		{name: "a read ignores constraints", givenConstraint: map[string]any{"max_bytes": 1024},
			givenBody: `{"team":"azureteam","operation":"read","object":"a"}`, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTeams(t, guarded(tt.givenConstraint)))
			r := h.do(t, "POST", "/v1/sign", aliceKey, tt.givenBody)
			if r.status != tt.wantStatus || (tt.wantCode != "" && r.body["code"] != tt.wantCode) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tt.wantStatus, tt.wantCode)
			}
			if r.status != 200 {
				if !strings.Contains(string(r.raw), tt.wantDetail) {
					t.Errorf("detail of %s does not name the fix %q", r.raw, tt.wantDetail)
				}
				if r.body["url"] != nil || r.body["decision_id"] == nil {
					t.Fatalf("a refusal carries its decision id and no URL: %s", r.raw)
				}
				return
			}
			if got := fmt.Sprint(r.body["unenforced_constraints"]); tt.wantUnenforced != "" && got != tt.wantUnenforced {
				t.Errorf("unenforced_constraints = %s, want %s", got, tt.wantUnenforced)
			}
			signed := r.raw
			if fields, ok := r.body["fields"].(map[string]any); ok {
				policy, _ := base64.StdEncoding.DecodeString(fields["policy"].(string))
				signed = string(policy)
			}
			for _, want := range tt.wantSigned {
				if !strings.Contains(signed, want) {
					t.Errorf("%s does not bind %s", signed, want)
				}
			}
		})
	}
}

func TestConstraintViolationsAreRefused(t *testing.T) {
	// A policy that grants without checking its own constraints: signgate
	// still refuses to sign what breaks them.
	h := newHarness(t, withTeams(t, guarded(map[string]any{"content_type": "image/"})))
	r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"s3team","operation":"write","object":"a","content_type":"text/html"}`)
	if r.status != 403 || !strings.Contains(r.raw, "content_type_not_allowed") {
		t.Fatalf("the default policy denies it first: got %d %s", r.status, r.raw)
	}
	h = newHarness(t, withTeams(t, guarded(map[string]any{"content_type": 7})))
	r = h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"s3team","operation":"read","object":"a"}`)
	if r.status != 200 {
		t.Fatalf("malformed upload data must not stop reads: %d %s", r.status, r.raw)
	}
}

func TestSignFormNeedsWrite(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"a","form":true}`)
	if r.status != 400 || !strings.Contains(r.raw, "form applies only to write") {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	r = h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"write","object":"a","form":true}`)
	fields, _ := r.body["fields"].(map[string]any)
	if r.status != 200 || r.body["method"] != "POST" || r.body["url"] != "http://127.0.0.1:7070/acme-vision" || fields["key"] != "vision/a" ||
		r.body["expires_at"] != "2026-11-28T10:00:00Z" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

// expiring returns an S3 signer for acme-vision whose credentials expire
// life after the test clock, every time they are retrieved.
func expiring(t *testing.T, life time.Duration, calls *atomic.Int32) signer.Signer {
	t.Helper()
	s, err := s3.New(s3.Config{Bucket: "acme-vision", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			calls.Add(1)
			return aws.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "s", SessionToken: "t", CanExpire: true, Expires: testNow.Add(life)}, nil
		})}, s3.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHonestExpiry(t *testing.T) {
	tests := []struct {
		name        string
		givenLife   time.Duration
		givenTeams  map[string]any
		givenBody   string
		wantStatus  int
		wantExpires string
		wantBy      string
	}{
		{name: "the policy's TTL when the credential outlives it", givenLife: 2 * time.Hour,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 200, wantExpires: "2026-11-27T11:00:00Z"},
		{name: "the credential's expiry when it dies first", givenLife: 10 * time.Minute,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 200, wantExpires: "2026-11-27T10:10:00Z", wantBy: "credential"},
		{name: "a form dies with its credential too", givenLife: 10 * time.Minute,
			givenBody: `{"team":"vision","operation":"write","object":"a","form":true}`, wantStatus: 200, wantExpires: "2026-11-27T10:10:00Z", wantBy: "credential"},
		{name: "the provider's limit of seven days", givenLife: 30 * 24 * time.Hour,
			givenTeams: map[string]any{"vision": teamData("vision-s3", "vision/", map[string]any{"max_ttl": map[string]any{"read": 2592000}})},
			givenBody:  `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 200, wantExpires: "2026-12-04T10:00:00Z", wantBy: "provider_limit"},
		{name: "the credential's expiry when it is below the provider's limit", givenLife: 3 * time.Hour,
			givenTeams: map[string]any{"vision": teamData("vision-s3", "vision/", map[string]any{"max_ttl": map[string]any{"read": 2592000}})},
			givenBody:  `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 200, wantExpires: "2026-11-27T13:00:00Z", wantBy: "credential"},
		{name: "no URL from a credential that dies within a minute", givenLife: 30 * time.Second,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			h := newHarness(t, func(o *options) { o.signers["vision-s3"] = expiring(t, tt.givenLife, &calls) }, withTeams(t, tt.givenTeams))
			r := h.do(t, "POST", "/v1/sign", aliceKey, tt.givenBody)
			if r.status != tt.wantStatus {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if r.status == 503 {
				if r.body["code"] != "signer_error" || r.body["url"] != nil || calls.Load() < 2 {
					t.Fatalf("want a 503 signer_error after a refresh (%d retrievals): %s", calls.Load(), r.raw)
				}
				return
			}
			by, _ := r.body["expiry_clamped_by"].(string)
			if r.body["expires_at"] != tt.wantExpires || by != tt.wantBy {
				t.Fatalf("expires_at %v clamped by %q, want %s by %q", r.body["expires_at"], by, tt.wantExpires, tt.wantBy)
			}
			if rec := h.records.recs[len(h.records.recs)-1]; rec.ExpiryClampedBy != tt.wantBy || rec.ExpiresAt.Format(time.RFC3339) != tt.wantExpires {
				t.Errorf("record: expires %s clamped by %q", rec.ExpiresAt, rec.ExpiryClampedBy)
			}
		})
	}
}
