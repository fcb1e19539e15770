package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles/bundletest"
)

// constraintPolicy grants every request on connector "c1" with the given
// decision.constraints (a Rego object).
func constraintPolicy(t *testing.T, constraints string) *authz.Engine {
	t.Helper()
	engine := authz.New()
	files := bundletest.Files{"authz.rego": `package signgate.authz

decision := {
	"allow": true,
	"reasons": [],
	"connector": "c1",
	"key": input.action.object,
	"operation": input.action.operation,
	"ttl_seconds": 60,
	"constraints": ` + constraints + `,
} if {
	input.action.team == "vision"
} else := {"allow": false, "reasons": ["unknown_team"]}
`}
	if err := engine.Activate(context.Background(), bundletest.Build(t, files, "r1", nil), "test"); err != nil {
		t.Fatal(err)
	}
	return engine
}

func TestUnknownConstraintsFailClosedOnEveryOperation(t *testing.T) {
	tests := []struct {
		name             string
		givenConstraints string
		givenBody        string
		wantStatus       int
		wantCode         string
		wantUnenforced   string
	}{
		{name: "refuses a read under an unknown constraint", givenConstraints: `{"geo": "eu"}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "refuses a delete under a misspelt constraint", givenConstraints: `{"ip_rnage": "10.0.0.0/8"}`,
			givenBody: `{"team":"vision","operation":"delete","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "refuses a write under an unknown constraint", givenConstraints: `{"geo": "eu"}`,
			givenBody: `{"team":"vision","operation":"write","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "refuses an unknown constraint that advisory does not name", givenConstraints: `{"geo": "eu", "advisory": ["max_bytes"]}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "refuses advisory given as an object", givenConstraints: `{"geo": "eu", "advisory": {"geo": true}}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "refuses a malformed constraint on a read", givenConstraints: `{"max_bytes": "10"}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "refuses a malformed ip_range", givenConstraints: `{"ip_range": "10.0.0.0/33"}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 500, wantCode: "policy_error"},
		{name: "signs a read under an advisory unknown constraint and says it went unenforced", givenConstraints: `{"geo": "eu", "advisory": ["geo"]}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 200, wantUnenforced: "[geo]"},
		{name: "a read ignores a well-formed write limit", givenConstraints: `{"max_bytes": 10}`,
			givenBody: `{"team":"vision","operation":"read","object":"a"}`, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := policyHarness(t, constraintPolicy(t, tt.givenConstraints))
			r := h.do(t, "POST", "/v1/sign", aliceKey, tt.givenBody)
			if r.status != tt.wantStatus || (tt.wantCode != "" && r.body["code"] != tt.wantCode) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus != 200 && strings.Contains(r.raw, "http") {
				t.Fatalf("a refused decision carries a URL: %s", r.raw)
			}
			if got := fmt.Sprint(r.body["unenforced_constraints"]); tt.wantUnenforced != "" && got != tt.wantUnenforced {
				t.Errorf("unenforced_constraints = %s, want %s", got, tt.wantUnenforced)
			}
			if len(h.records.recs) != 1 || h.records.recs[0].Status != tt.wantStatus {
				t.Fatalf("want one record with status %d, got %+v", tt.wantStatus, h.records.recs)
			}
		})
	}
}

func TestAnObjectTooLongForTheTeamsPrefixIsTheCallersError(t *testing.T) {
	h := newHarness(t)
	// 1,020 bytes is a legal object; "vision/" makes the key 1,027.
	body := `{"team":"vision","operation":"read","object":"` + strings.Repeat("o", 1020) + `"}`
	r := h.do(t, "POST", "/v1/sign", aliceKey, body)
	if r.status != 400 || r.body["code"] != "invalid_request" {
		t.Fatalf("got %d %s, want 400 invalid_request", r.status, r.raw)
	}
	if detail, _ := r.body["detail"].(string); !strings.Contains(detail, "at most 1017 bytes") || !strings.Contains(detail, `"vision"`) {
		t.Fatalf("detail %q does not give the team's longest object", detail)
	}
	if len(h.records.recs) != 1 || h.records.recs[0].Status != 400 || h.records.recs[0].Error != "invalid_request" {
		t.Fatalf("want one record of the 400, got %+v", h.records.recs)
	}
	r = h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"`+strings.Repeat("o", 1017)+`"}`)
	if r.status != 200 {
		t.Fatalf("the longest object the team allows: got %d %s", r.status, r.raw)
	}
}
