package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
	"github.com/signgate/signgate/signer"
)

// trapSigner panics, or cancels the request and fails as a signer whose
// client went away would.
type trapSigner struct {
	cancel context.CancelFunc // nil: panic
}

func (t trapSigner) Sign(ctx context.Context, _ signer.Grant) (signer.Signed, error) {
	if t.cancel == nil {
		panic("signer bug")
	}
	t.cancel()
	return signer.Signed{}, ctx.Err()
}
func (trapSigner) Provider() string { return "s3" }
func (trapSigner) Bucket() string   { return "acme-trap" }

// trapHarness grants team vision every object on connector "c1", except
// the object "trap", which it grants on connector "trap".
func trapHarness(t *testing.T, trap trapSigner) *harness {
	t.Helper()
	engine := authz.New()
	files := bundletest.Files{"authz.rego": `package signgate.authz

connector := "trap" if input.action.object == "trap"
else := "c1"

decision := {
	"allow": true,
	"reasons": [],
	"connector": connector,
	"key": input.action.object,
	"operation": input.action.operation,
	"ttl_seconds": 60,
} if {
	input.action.team == "vision"
} else := {"allow": false, "reasons": ["unknown_team"]}
`}
	if err := engine.Activate(context.Background(), bundletest.Build(t, files, "r1", nil), "test"); err != nil {
		t.Fatal(err)
	}
	auth, err := server.NewAPIKeys([]config.APIKey{{SHA256: sum(aliceKey), Subject: "alice", Teams: []string{"vision"}}})
	if err != nil {
		t.Fatal(err)
	}
	signers := exampleSigners(t)
	signers["c1"], signers["trap"] = signers["vision-s3"], trap
	rec := &recorder{}
	return &harness{e: server.New(engine, signers, auth, server.WithClock(clock), server.WithAuditor(rec)), records: rec}
}

func TestAPanicIsOneDecisionsFiveHundred(t *testing.T) {
	t.Run("on /v1/sign", func(t *testing.T) {
		h := trapHarness(t, trapSigner{})
		wantTrapIsOneFiveHundred(t, h, "signer bug")
	})
	t.Run("in a batch item, leaving the other items and the process alone", func(t *testing.T) {
		h := trapHarness(t, trapSigner{})
		wantTrapItemAlone(t, h)
	})
}

func TestAClientThatHasGoneGets499(t *testing.T) {
	tests := []struct {
		name      string
		givenPath string
		givenBody string
		// givenCancelFirst cancels the request before it is served;
		// otherwise the signer cancels it while signing.
		givenCancelFirst bool
	}{
		{name: "while the policy decides", givenPath: "/v1/sign", givenBody: `{"team":"vision","operation":"read","object":"a"}`, givenCancelFirst: true},
		{name: "while the URL is signed", givenPath: "/v1/sign", givenBody: `{"team":"vision","operation":"read","object":"trap"}`},
		{name: "while /v1/decide decides", givenPath: "/v1/decide", givenBody: `{"team":"vision","operation":"read","object":"a"}`, givenCancelFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := trapHarness(t, trapSigner{cancel: cancel})
			if tt.givenCancelFirst {
				cancel()
			}
			req := httptest.NewRequest("POST", tt.givenPath, strings.NewReader(tt.givenBody)).WithContext(ctx)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+aliceKey)
			rw := httptest.NewRecorder()
			h.e.ServeHTTP(rw, req)
			var body map[string]any
			_ = json.Unmarshal(rw.Body.Bytes(), &body)
			if rw.Code != 499 || body["code"] != "client_closed_request" {
				t.Fatalf("got %d %s, want 499 client_closed_request", rw.Code, rw.Body)
			}
			if len(h.records.recs) != 1 || h.records.recs[0].Status != 499 || h.records.recs[0].Error != "client_closed_request" {
				t.Fatalf("want one record of the 499, got %+v", h.records.recs)
			}
		})
	}
}

func jsonString(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// wantTrapIsOneFiveHundred asks h to sign the "trap" object, whose
// decision or signature panics, and requires a 500 internal_error that
// carries the decision id, leaks no panic text, and leaves one record.
func wantTrapIsOneFiveHundred(t *testing.T, h *harness, panicText string) {
	t.Helper()
	r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"trap"}`)
	id, _ := r.body["decision_id"].(string)
	if r.status != 500 || r.body["code"] != "internal_error" || id == "" || strings.Contains(r.raw, panicText) {
		t.Fatalf("got %d %s, want a 500 internal_error with the decision id and no panic text", r.status, r.raw)
	}
	if len(h.records.recs) != 1 || h.records.recs[0].DecisionID != id || h.records.recs[0].Status != 500 {
		t.Fatalf("want one record of the 500 under %s, got %+v", id, h.records.recs)
	}
}

// wantTrapItemAlone signs a batch with the "trap" object between two
// others: only that item is a 500 (with its decision id), and every item
// leaves its record.
func wantTrapItemAlone(t *testing.T, h *harness) {
	t.Helper()
	r := h.do(t, "POST", "/v1/sign/batch", aliceKey, `{"items":[
		{"team":"vision","operation":"read","object":"a"},
		{"team":"vision","operation":"read","object":"trap"},
		{"team":"vision","operation":"read","object":"b"}]}`)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	results, _ := r.body["results"].([]any)
	var got []string
	for _, res := range results {
		m := res.(map[string]any)
		p, _ := m["problem"].(map[string]any)
		got = append(got, jsonString(m["status"])+":"+jsonString(p["code"])+":"+jsonString(p["decision_id"] != nil))
	}
	if want := "200::false,500:internal_error:true,200::false"; strings.Join(got, ",") != want {
		t.Fatalf("results %v, want %s", got, want)
	}
	if len(h.records.recs) != 3 {
		t.Fatalf("%d records for 3 items", len(h.records.recs))
	}
}
