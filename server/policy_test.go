package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/s3"
	"github.com/signgate/signgate/tests/eventually"
)

// policyHarness serves engine, whose policies (bundletest.Policy) grant on
// connector "c1", to alice and bob.
func policyHarness(t *testing.T, engine *authz.Engine, opts ...server.Option) *harness {
	t.Helper()
	sg, err := s3.New(s3.Config{Bucket: "acme-c1", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070",
		Credentials: s3.StaticCredentials("AKIDTEST", "test-secret")}, s3.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := server.NewAPIKeys([]config.APIKey{
		{SHA256: sum(aliceKey), Subject: "alice", Teams: []string{"vision"}},
		{SHA256: sum(bobKey), Subject: "bob", Teams: []string{"vision"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opts = append([]server.Option{server.WithClock(clock), server.WithAuditor(rec)}, opts...)
	return &harness{e: server.New(engine, map[string]signer.Signer{"c1": sg}, auth, opts...), records: rec}
}

// pollPolicy reads GET /v1/policy until cond holds, or fails after 15 s.
func pollPolicy(t *testing.T, h *harness, what string, cond func(response) bool) response {
	t.Helper()
	var r response
	eventually.Check(t, 15*time.Second, what, func() error {
		r = h.do(t, "GET", "/v1/policy", aliceKey, "")
		if r.status != 200 || !cond(r) {
			return fmt.Errorf("last /v1/policy: %d %s", r.status, r.raw)
		}
		return nil
	})
	return r
}

func lastError(r response) map[string]any {
	m, _ := r.body["last_error"].(map[string]any)
	return m
}

// TestPolicyRouteFollowsTheBundleService drives a bundle service through
// revisions and a refused update, watching only GET /v1/policy and the
// revision and TTL of /v1/decide.
func TestPolicyRouteFollowsTheBundleService(t *testing.T) {
	good, wrong := bundletest.NewKey(t, "ci-2026"), bundletest.NewKey(t, "ci-2026")
	srv := bundletest.NewServer(t)
	engine := authz.New()
	svc, err := bundles.NewService(engine, []byte(fmt.Sprintf(`{"services": {"hub": {"url": %q}},
		"bundles": {"signgate": {"service": "hub", "resource": %q,
			"polling": {"min_delay_seconds": 1, "max_delay_seconds": 1, "long_polling_timeout_seconds": 10}}}}`, srv.URL, srv.Path)),
		bundles.WithVerification(good.Verification(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	svc.Start(context.Background())
	t.Cleanup(func() { svc.Stop(context.Background()) })
	h := policyHarness(t, engine)

	r := pollPolicy(t, h, "the empty server's 404", func(r response) bool { return lastError(r)["stage"] == "download" })
	if r.body["ready"] != false || r.body["revision"] != nil {
		t.Fatalf("ready before a bundle: %s", r.raw)
	}
	if rz := h.do(t, "GET", "/readyz", "", ""); rz.status != 503 {
		t.Fatalf("readyz %d before a bundle", rz.status)
	}

	decide := func(wantRev string, wantTTL float64) {
		t.Helper()
		d := h.do(t, "POST", "/v1/decide", aliceKey, `{"team":"vision","operation":"read","object":"a"}`)
		if d.status != 200 || d.body["revision"] != wantRev || d.body["ttl_seconds"] != wantTTL {
			t.Fatalf("decide: %d %s; want revision %s, ttl %v", d.status, d.raw, wantRev, wantTTL)
		}
	}

	srv.Serve(bundletest.Tarball(t, bundletest.Policy(60), "r1", good))
	r = pollPolicy(t, h, "revision r1", func(r response) bool { return r.body["revision"] == "r1" })
	want := map[string]any{"ready": true, "source": "service:" + srv.URL + srv.Path, "signing_key_id": "ci-2026"}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %v, want %v", k, r.body[k], v)
		}
	}
	if r.body["activated_at"] == nil || r.body["last_check"] == nil || r.body["last_error"] != nil {
		t.Errorf("r1: %s", r.raw)
	}
	decide("r1", 60)

	srv.Serve(bundletest.Tarball(t, bundletest.Policy(9999), "evil", wrong))
	r = pollPolicy(t, h, "the wrong key's refusal", func(r response) bool { return lastError(r)["stage"] == "verify" })
	if r.body["revision"] != "r1" || !strings.Contains(lastError(r)["message"].(string), "verify") || lastError(r)["source"] != want["source"] {
		t.Fatalf("after the wrong key: %s", r.raw)
	}
	decide("r1", 60)

	srv.Serve(bundletest.Tarball(t, bundletest.Policy(120), "r2", good))
	r = pollPolicy(t, h, "revision r2", func(r response) bool { return r.body["revision"] == "r2" })
	if r.body["last_error"] != nil {
		t.Fatalf("r2 still reports an error: %s", r.raw)
	}
	decide("r2", 120)
}

func TestDecideExplain(t *testing.T) {
	engine := authz.New()
	if err := engine.Activate(context.Background(), bundletest.Build(t, bundletest.Policy(60), "r1", nil), "test"); err != nil {
		t.Fatal(err)
	}
	h := policyHarness(t, engine, server.WithExplainSubjects([]string{"alice"}))
	body := `{"team":"vision","operation":"read","object":"a"}`
	tests := []struct {
		name, givenKey, givenQuery string
		wantStatus                 int
		wantCode                   string
		wantExplanation            bool
	}{
		{name: "explains to a subject the config names", givenKey: aliceKey, givenQuery: "?explain=full", wantStatus: 200, wantExplanation: true},
		{name: "refuses anyone else with a stable code", givenKey: bobKey, givenQuery: "?explain=full", wantStatus: 403, wantCode: "explain_not_allowed"},
		{name: "refuses an unknown mode", givenKey: aliceKey, givenQuery: "?explain=debug", wantStatus: 400, wantCode: "invalid_request"},
		{name: "explains nothing unasked", givenKey: aliceKey, wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, "POST", "/v1/decide"+tc.givenQuery, tc.givenKey, body)
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			expl, _ := r.body["explanation"].([]any)
			if got := len(expl) > 0; got != tc.wantExplanation {
				t.Fatalf("explanation present = %v: %s", got, r.raw)
			}
			if tc.wantStatus != 200 {
				return
			}
			if r.body["allow"] != true || r.body["revision"] != "r1" || r.body["ttl_seconds"] != float64(60) || r.body["key"] != "a" || r.body["connector"] != "c1" {
				t.Fatalf("not the whole decision: %s", r.raw)
			}
			if tc.wantExplanation && !strings.Contains(fmt.Sprint(expl), "Enter data.signgate.authz.decision") {
				t.Fatalf("explanation is not OPA's trace: %v", expl)
			}
		})
	}
	if len(h.records.recs) != 2 || h.records.recs[0].Revision != "r1" {
		t.Fatalf("want a decision record for each decision, got %d", len(h.records.recs))
	}
}
