package server_test

import (
	"fmt"
	"strings"
	"testing"
)

func batchBody(items ...string) string {
	return `{"items":[` + strings.Join(items, ",") + `]}`
}

func TestBatchAnswersEveryItemInOrder(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "POST", "/v1/sign/batch", aliceKey, batchBody(
		`{"team":"vision","operation":"read","object":"a.txt","expires_in":60}`,
		`{"team":"nlp","operation":"read","object":"b.txt"}`,
		`{"team":"web","operation":"write","object":"c.txt"}`,
		`{"team":"vision","operation":"list","object":"d.txt"}`,
		`{"team":"web","operation":"write","object":"e.txt","content_type":"text/plain"}`,
		`{"team":"vision","operation":"write","object":"f.png","form":true,"content_type":"image/png"}`,
	))
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	results := r.body["results"].([]any)
	want := []struct {
		status int
		code   string
		key    string
		method string
	}{
		{200, "", "vision/a.txt", "GET"},
		{403, "denied", "", ""},
		{200, "", "web/c.txt", "PUT"},
		{400, "invalid_request", "", ""},
		{422, "unsupported_by_provider", "", ""},
		{200, "", "vision/f.png", "POST"},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d: %s", len(results), len(want), r.raw)
	}
	ids := map[string]bool{}
	for i, w := range want {
		res := results[i].(map[string]any)
		if res["status"] != float64(w.status) {
			t.Fatalf("item %d: %v, want status %d", i, res, w.status)
		}
		if w.status == 200 {
			if res["key"] != w.key || res["method"] != w.method || res["url"] == "" || res["problem"] != nil {
				t.Errorf("item %d: %v", i, res)
			}
			ids[res["decision_id"].(string)] = true
			continue
		}
		p := res["problem"].(map[string]any)
		if p["code"] != w.code || res["url"] != nil || p["status"] != float64(w.status) || p["request_id"] == "" {
			t.Errorf("item %d: %v, want problem %s", i, res, w.code)
		}
		if id, ok := p["decision_id"].(string); ok {
			ids[id] = true
		}
	}
	if r1 := results[1].(map[string]any)["problem"].(map[string]any); fmt.Sprint(r1["reasons"]) != "[not_team_member]" {
		t.Errorf("denied item reasons %v", r1["reasons"])
	}
	if r5 := results[5].(map[string]any); r5["fields"].(map[string]any)["Content-Type"] != "image/png" {
		t.Errorf("form item fields %v", r5["fields"])
	}
	// Five items reached the policy; the malformed one did not.
	if len(ids) != 5 || len(h.records.recs) != 5 {
		t.Fatalf("%d distinct decision ids and %d records, want 5 each", len(ids), len(h.records.recs))
	}
	wantStatus := []int{200, 403, 200, 422, 200}
	for i, rec := range h.records.recs {
		if rec.Endpoint != "/v1/sign/batch" || rec.Status != wantStatus[i] || !ids[rec.DecisionID] {
			t.Errorf("record %d: %s %d %s", i, rec.Endpoint, rec.Status, rec.DecisionID)
		}
	}
	if h.records.recs[1].Error != "" || h.records.recs[3].Error != "unsupported_by_provider" {
		t.Errorf("a denial is no error, a refusal is: %q %q", h.records.recs[1].Error, h.records.recs[3].Error)
	}
}

func TestBatchLimits(t *testing.T) {
	h := newHarness(t)
	item := `{"team":"web","operation":"read","object":"a"}`
	many := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = item
		}
		return batchBody(items...)
	}
	tests := []struct {
		name       string
		givenKey   string
		givenBody  string
		wantStatus int
		wantCode   string
	}{
		{"refuses an empty batch", aliceKey, `{"items":[]}`, 400, "invalid_request"},
		{"refuses a batch without items", aliceKey, `{}`, 400, "invalid_request"},
		{"refuses 1001 items", aliceKey, many(1001), 400, "invalid_request"},
		{"refuses an unknown field in an item", aliceKey, batchBody(`{"team":"web","operation":"read","object":"a","x":1}`), 400, "invalid_request"},
		{"refuses a duplicated field in an item", aliceKey, batchBody(`{"team":"nlp","operation":"read","object":"a","team":"web"}`), 400, "invalid_request"},
		{"refuses a field name in another case in an item", aliceKey, batchBody(`{"Team":"web","operation":"read","object":"a"}`), 400, "invalid_request"},
		{"refuses an unauthenticated batch", "wrong-key", many(2), 401, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, "POST", "/v1/sign/batch", tt.givenKey, tt.givenBody)
			if r.status != tt.wantStatus || r.body["code"] != tt.wantCode {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
		})
	}
	t.Run("answers 1000 items", func(t *testing.T) {
		r := h.do(t, "POST", "/v1/sign/batch", aliceKey, many(1000))
		if r.status != 200 || len(r.body["results"].([]any)) != 1000 {
			t.Fatalf("got %d (%d bytes)", r.status, len(r.raw))
		}
		for i, res := range r.body["results"].([]any) {
			if res.(map[string]any)["status"] != float64(200) {
				t.Fatalf("item %d: %v", i, res)
			}
		}
	})
}
