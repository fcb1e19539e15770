package server

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeJSONStrictness pins what each malformed body is told, so that
// a faster decoder keeps every answer.
func TestDecodeJSONStrictness(t *testing.T) {
	tests := []struct {
		name       string
		givenBody  string
		wantStatus int
		wantDetail string
	}{
		{name: "decodes one object", givenBody: `{"team":"vision","operation":"read","object":"a","expires_in":900}`},
		{name: "allows whitespace around the object", givenBody: " \n{\"team\":\"vision\"}\n\t"},
		{name: "refuses an empty body", givenBody: "", wantStatus: 400, wantDetail: "request body is empty"},
		{name: "refuses a blank body", givenBody: " \n ", wantStatus: 400, wantDetail: "request body is empty"},
		{name: "refuses truncated JSON", givenBody: `{"team":"vis`, wantStatus: 400, wantDetail: "request body is truncated JSON"},
		{name: "refuses a second value", givenBody: `{"team":"a"}{"team":"b"}`, wantStatus: 400, wantDetail: "body must hold exactly one JSON object"},
		{name: "refuses trailing garbage", givenBody: `{"team":"a"} x`, wantStatus: 400, wantDetail: "body must hold exactly one JSON object"},
		{name: "refuses a repeated field", givenBody: `{"team":"a","team":"b"}`, wantStatus: 400, wantDetail: `field "team" appears more than once`},
		{name: "refuses an unknown field", givenBody: `{"Team":"a"}`, wantStatus: 400, wantDetail: `unknown field "Team"`},
		{name: "refuses a wrong type", givenBody: `{"expires_in":"900"}`, wantStatus: 400, wantDetail: `field "expires_in" must be an integer`},
		{name: "refuses a non-object", givenBody: `[1,2]`, wantStatus: 400, wantDetail: "body must be a JSON object"},
		{name: "refuses malformed JSON", givenBody: `{"team" "a"}`, wantStatus: 400, wantDetail: "malformed JSON at byte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/sign", strings.NewReader(tc.givenBody))
			r.Header.Set("Content-Type", "application/json")
			var dst signRequest
			err := decodeJSON(httptest.NewRecorder(), r, 1<<20, &dst)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if dst.Team != "vision" {
					t.Errorf("team %q", dst.Team)
				}
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v, want an API error", err)
			}
			if ae.Problem.Status != tc.wantStatus || !strings.Contains(ae.Problem.Detail, tc.wantDetail) {
				t.Errorf("got %d %q, want %d %q", ae.Problem.Status, ae.Problem.Detail, tc.wantStatus, tc.wantDetail)
			}
		})
	}
}
