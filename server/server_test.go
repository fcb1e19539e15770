package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/labstack/echo/v4"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
)

var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

const (
	aliceKey = "alice-test-key"
	bobKey   = "bob-test-key"
	// azuriteKey is Azurite's public devstoreaccount1 key.
	azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func sum(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }

type harness struct {
	e       *echo.Echo
	records *recorder
}

type recorder struct{ recs []*server.Record }

func (r *recorder) Record(_ context.Context, rec *server.Record) error {
	r.recs = append(r.recs, rec)
	return nil
}

type options struct {
	engine     *authz.Engine
	signers    map[string]signer.Signer
	serverOpts []server.Option
}

// newHarness serves the embedded policy and example data with real
// signers for the example connectors, on a fixed clock.
func newHarness(t testing.TB, mods ...func(*options)) *harness {
	t.Helper()
	o := &options{signers: exampleSigners(t)}
	for _, m := range mods {
		m(o)
	}
	if o.engine == nil {
		o.engine = embeddedEngine(t, o.signers)
	}
	auth := testKeys(t)
	rec := &recorder{}
	e := server.New(o.engine, o.signers, auth, append([]server.Option{server.WithClock(clock), server.WithAuditor(rec)}, o.serverOpts...)...)
	return &harness{e: e, records: rec}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// goneHeader, given to do as a header name, sends the request from a
// client that has already gone: its context is cancelled.
const goneHeader = "X-Test-Client-Gone"

func (h *harness) do(t *testing.T, method, path, key, body string, hdr ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == goneHeader {
			ctx, cancel := context.WithCancel(req.Context())
			cancel()
			req = req.WithContext(ctx)
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rw := httptest.NewRecorder()
	h.e.ServeHTTP(rw, req)
	r := response{status: rw.Code, header: rw.Header(), raw: rw.Body.String()}
	_ = json.Unmarshal(rw.Body.Bytes(), &r.body)
	return r
}

func TestSignIssuesURL(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"write","object":"runs/42/model.pt","expires_in":900,"content_type":"application/octet-stream"}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	u, err := url.Parse(r.body["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "127.0.0.1:7070" || u.Path != "/acme-vision/vision/runs/42/model.pt" {
		t.Fatalf("url %s is not for the team's bucket and prefix", u)
	}
	if got := r.body["expires_at"]; got != testNow.Add(900*time.Second).Format(time.RFC3339) {
		t.Fatalf("expires_at = %v", got)
	}
	if u.Query().Get("X-Amz-Expires") != "900" {
		t.Fatalf("X-Amz-Expires = %q", u.Query().Get("X-Amz-Expires"))
	}
	hdrs := r.body["headers"].(map[string]any)
	if hdrs["Content-Type"] != "application/octet-stream" {
		t.Fatalf("headers = %v", hdrs)
	}
	for field, want := range map[string]string{"method": "PUT", "provider": "s3", "bucket": "acme-vision", "key": "vision/runs/42/model.pt"} {
		if r.body[field] != want {
			t.Errorf("%s = %v, want %s", field, r.body[field], want)
		}
	}
	if len(h.records.recs) != 1 || h.records.recs[0].Status != 200 || h.records.recs[0].DecisionID != r.body["decision_id"] {
		t.Fatalf("want one decision record for the allow, got %+v", h.records.recs)
	}
	if strings.Contains(mustJSON(t, h.records.recs[0]), "X-Amz-Signature") {
		t.Fatal("decision record holds the URL's signature")
	}
}

func TestSignClampsTTLToPolicyCap(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, givenBody string
		wantTTL         time.Duration
	}{
		{"uses the read cap when no expires_in is given", `{"team":"vision","operation":"read","object":"a"}`, time.Hour},
		{"clamps an expires_in above the read cap", `{"team":"vision","operation":"read","object":"a","expires_in":86400}`, time.Hour},
		{"gives writes up to 24 hours", `{"team":"vision","operation":"write","object":"a","expires_in":604800}`, 24 * time.Hour},
		{"clamps deletes to an hour", `{"team":"vision","operation":"delete","object":"a","expires_in":7200}`, time.Hour},
		{"shortens on request", `{"team":"vision","operation":"read","object":"a","expires_in":1}`, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, "POST", "/v1/sign", aliceKey, tc.givenBody)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if got := r.body["expires_at"]; got != testNow.Add(tc.wantTTL).Format(time.RFC3339) {
				t.Fatalf("expires_at = %v, want now+%s", got, tc.wantTTL)
			}
		})
	}
}

func TestSignDenies(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, givenKey, givenBody, wantReason string
		givenHeader                           []string
	}{
		{name: "denies another team's object", givenKey: bobKey, givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantReason: "not_team_member"},
		{name: "denies an unknown team", givenKey: aliceKey, givenBody: `{"team":"ghosts","operation":"read","object":"a"}`, wantReason: "unknown_team"},
		{name: "denies an operation the team lacks", givenKey: aliceKey, givenBody: `{"team":"research","operation":"write","object":"a"}`, wantReason: "operation_not_allowed"},
		{name: "ignores a spoofed X-Forwarded-For from an untrusted peer", givenKey: aliceKey, givenBody: `{"team":"contractors","operation":"read","object":"a"}`, wantReason: "not_team_member", givenHeader: []string{"X-Forwarded-For", "10.1.2.3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, "POST", "/v1/sign", tc.givenKey, tc.givenBody, tc.givenHeader...)
			if r.status != 403 || r.body["code"] != "denied" {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if _, ok := r.body["url"]; ok || strings.Contains(r.raw, "http://") {
				t.Fatalf("a denial carries a URL: %s", r.raw)
			}
			if r.body["decision_id"] == "" || r.body["decision_id"] == nil {
				t.Fatal("denial has no decision_id")
			}
			if !strings.Contains(r.raw, `"`+tc.wantReason+`"`) {
				t.Fatalf("reasons = %v, want %s", r.body["reasons"], tc.wantReason)
			}
		})
	}
	for _, rec := range h.records.recs {
		if rec.Status != 403 {
			t.Fatalf("record status %d, want 403", rec.Status)
		}
	}
	if len(h.records.recs) != len(tests) {
		t.Fatalf("%d records for %d denials", len(h.records.recs), len(tests))
	}
}

func TestRejectsBadRequests(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("k", 1025)
	tests := []struct {
		name, givenKey, givenBody, givenContentType string
		wantStatus                                  int
		wantCode, wantDetail                        string
	}{
		{name: "no credentials", givenBody: `{}`, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "an unknown key", givenKey: "nope", givenBody: `{}`, wantStatus: 401, wantCode: "unauthenticated"},
		{name: "an empty body", givenKey: aliceKey, givenContentType: "application/json", wantStatus: 400, wantCode: "invalid_request", wantDetail: "empty"},
		{name: "a field name in another case", givenKey: aliceKey, givenBody: `{"TEAM":"vision","operation":"read","object":"a"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `unknown field "TEAM"`},
		{name: "a duplicated field", givenKey: aliceKey, givenBody: `{"team":"nlp","team":"vision","operation":"read","object":"a"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `field "team" appears more than once`},
		{name: "a wrong JSON type, named in JSON's terms", givenKey: aliceKey, givenBody: `{"team":["vision"],"operation":"read","object":"a"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `field "team" must be a string`},
		{name: "a body without a Content-Type", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a"}`, givenContentType: "none", wantStatus: 415, wantCode: "invalid_request"},
		{name: "malformed JSON", givenKey: aliceKey, givenBody: `{"team":`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "JSON"},
		{name: "a JSON array", givenKey: aliceKey, givenBody: `[]`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "object"},
		{name: "an unknown field", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","bucket":"x"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `unknown field "bucket"`},
		{name: "a string expires_in", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","expires_in":"900"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "expires_in"},
		{name: "a fractional expires_in", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","expires_in":1.5}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "expires_in"},
		{name: "a zero expires_in", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","expires_in":0}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "expires_in"},
		{name: "a negative expires_in", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","expires_in":-5}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "expires_in"},
		{name: "two JSON objects", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a"}{}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "exactly one"},
		{name: "a missing team", givenKey: aliceKey, givenBody: `{"operation":"read","object":"a"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "team"},
		{name: "an unknown operation", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"list","object":"a"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "operation"},
		{name: "an empty key", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":""}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "empty"},
		{name: "a key over 1024 bytes", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"` + long + `"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "1024"},
		{name: "a key with invalid UTF-8", givenKey: aliceKey, givenBody: "{\"team\":\"vision\",\"operation\":\"read\",\"object\":\"a\xffb\"}", wantStatus: 400, wantCode: "invalid_request", wantDetail: "UTF-8"},
		{name: "a key with a lone surrogate", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a\ud800b"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "UTF-8"},
		{name: "a key with a NUL", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a\u0000b"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "control"},
		{name: "a key with a newline", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a\nb"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "control"},
		{name: "a key with DEL", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a\u007fb"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "control"},
		{name: "a key with a leading slash", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"/etc/passwd"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `starts with "/"`},
		{name: "a key with a dot-dot segment", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a/../../research/x"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `".."`},
		{name: "a key that is dot-dot", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":".."}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `".."`},
		{name: "a key with a dot segment", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a/./b"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: `"."`},
		{name: "a content type on a read", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","content_type":"text/plain"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "content_type"},
		{name: "a malformed content type", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"write","object":"a","content_type":"not a type"}`, wantStatus: 400, wantCode: "invalid_request", wantDetail: "content_type"},
		{name: "a body over 64 KiB", givenKey: aliceKey, givenBody: `{"team":"vision","operation":"read","object":"a","content_type":"` + strings.Repeat("x", 70<<10) + `"}`, wantStatus: 413, wantCode: "payload_too_large"},
		{name: "a non-JSON content type", givenKey: aliceKey, givenBody: `{}`, givenContentType: "text/plain", wantStatus: 415, wantCode: "invalid_request"},
	}
	for _, tc := range tests {
		for _, path := range []string{"/v1/sign", "/v1/decide"} {
			t.Run(path+" rejects "+tc.name, func(t *testing.T) {
				var hdr []string
				switch tc.givenContentType {
				case "":
				case "none":
					hdr = []string{"Content-Type", ""}
				default:
					hdr = []string{"Content-Type", tc.givenContentType}
				}
				r := h.do(t, "POST", path, tc.givenKey, tc.givenBody, hdr...)
				if r.status != tc.wantStatus || r.body["code"] != tc.wantCode {
					t.Fatalf("got %d %v, want %d %s: %s", r.status, r.body["code"], tc.wantStatus, tc.wantCode, r.raw)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("Content-Type = %q", ct)
				}
				if !strings.Contains(r.body["detail"].(string), tc.wantDetail) {
					t.Fatalf("detail %q does not name %q", r.body["detail"], tc.wantDetail)
				}
				if _, ok := r.body["url"]; ok {
					t.Fatal("an error carries a URL")
				}
				if r.body["type"] == "" || r.body["title"] == "" || r.body["status"] != float64(tc.wantStatus) {
					t.Fatalf("not an RFC 9457 problem: %s", r.raw)
				}
			})
		}
	}
	if len(h.records.recs) != 0 {
		t.Fatalf("requests rejected before the policy left %d decision records", len(h.records.recs))
	}
}

func TestRoutesAndHealth(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, method, path, key string
		wantStatus              int
		wantCode                string
	}{
		{"healthz answers without credentials", "GET", "/healthz", "", 200, ""},
		{"readyz answers when a policy is active", "GET", "/readyz", "", 200, ""},
		{"an unknown route is a problem", "GET", "/v1/nope", aliceKey, 404, "not_found"},
		{"a wrong method is a problem", "GET", "/v1/sign", aliceKey, 405, "method_not_allowed"},
		{"policy status needs credentials", "GET", "/v1/policy", "", 401, "unauthenticated"},
		{"policy status shows the revision", "GET", "/v1/policy", aliceKey, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, tc.method, tc.path, tc.key, "")
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("got %d: %s", r.status, r.raw)
			}
		})
	}
}

func TestFailsClosed(t *testing.T) {
	t.Run("not ready before a policy is active", func(t *testing.T) {
		h := newHarness(t, func(o *options) { o.engine = authz.New() })
		if r := h.do(t, "GET", "/readyz", "", ""); r.status != 503 || r.body["code"] != "not_ready" {
			t.Fatalf("readyz: %d %s", r.status, r.raw)
		}
		r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"a"}`)
		if r.status != 503 || r.body["code"] != "not_ready" || r.body["url"] != nil {
			t.Fatalf("sign: %d %s", r.status, r.raw)
		}
	})
	t.Run("signer error gives 502 and no URL", func(t *testing.T) {
		broken, err := s3.New(s3.Config{Bucket: "acme-vision", Region: "us-east-1",
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("sts unavailable: secret-detail")
			})}, s3.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, func(o *options) { o.signers["vision-s3"] = broken })
		r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"a"}`)
		if r.status != 502 || r.body["code"] != "signer_error" || r.body["url"] != nil {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		if strings.Contains(r.raw, "secret-detail") {
			t.Fatal("the signer's cause leaked to the client")
		}
	})
	t.Run("a constraint the provider cannot sign is a 422", func(t *testing.T) {
		h := newHarness(t)
		r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"web","operation":"write","object":"a","content_type":"text/plain"}`)
		if r.status != 422 || r.body["code"] != "unsupported_by_provider" || r.body["url"] != nil {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		if d, _ := r.body["detail"].(string); !strings.Contains(d, "content_type cannot be bound by an Azure SAS") || !strings.Contains(d, "x-ms-blob-content-type") {
			t.Fatalf("detail %q does not name the field and the way around it", d)
		}
	})
}

func TestDecideExplainsWithoutSigning(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "POST", "/v1/decide", aliceKey, `{"team":"vision","operation":"read","object":"a","expires_in":60}`)
	if r.status != 200 || r.body["allow"] != true || r.body["ttl_seconds"] != float64(60) || r.body["key"] != "vision/a" || r.body["connector"] != "vision-s3" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if r.body["revision"] == "" || r.body["url"] != nil {
		t.Fatalf("decide must carry a revision and no URL: %s", r.raw)
	}
	r = h.do(t, "POST", "/v1/decide", bobKey, `{"team":"vision","operation":"read","object":"a"}`)
	if r.status != 200 || r.body["allow"] != false || !strings.Contains(r.raw, "not_team_member") {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
