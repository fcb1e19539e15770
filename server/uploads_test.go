package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/gcs"
)

// withTeams serves the embedded policy with the example data plus teams
// (which replace example teams of the same name). It runs after the other
// options, so that the engine knows every signer.
func withTeams(t *testing.T, teams map[string]any) func(*options) {
	return func(o *options) {
		o.engine = embeddedEngine(t, o.signers, func(data map[string]any) {
			all := data["signgate"].(map[string]any)["teams"].(map[string]any)
			for name, team := range teams {
				all[name] = team
			}
		})
	}
}

// withGCS adds the example nlp-gcs connector, signing with a fresh key.
func withGCS(t *testing.T) func(*options) {
	return func(o *options) {
		sa, err := gcs.GenerateServiceAccountJSON("signgate-test@signgate-test.iam.gserviceaccount.com")
		if err != nil {
			t.Fatal(err)
		}
		s, err := gcs.New(gcs.Config{Bucket: "acme-nlp", Endpoint: "http://127.0.0.1:4443", ServiceAccountJSON: sa})
		if err != nil {
			t.Fatal(err)
		}
		o.signers["nlp-gcs"] = s
	}
}

// teamData is a team entry of the policy's data.
func teamData(connector, prefix string, extra map[string]any) map[string]any {
	t := map[string]any{"connector": connector, "prefix": prefix, "operations": []any{"read", "write", "delete"}}
	for k, v := range extra {
		t[k] = v
	}
	return t
}

func TestUploadRejectsBadSizesBeforeThePolicy(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name       string
		givenBody  string
		wantDetail string
	}{
		{"no size", `{"team":"web","object":"a"}`, "size is required"},
		{"a negative size", `{"team":"web","object":"a","size":-1}`, "at least 1 byte"},
		{"an object over 5 TiB", `{"team":"web","object":"a","size":5497558138881}`, "5 TiB"},
		{"a part under 5 MiB", `{"team":"web","object":"a","size":12582912,"part_size":5242879}`, "5 MiB"},
		{"a part over 5 GiB", `{"team":"web","object":"a","size":12582912,"part_size":5368709121}`, "5 GiB"},
		{"a negative part size", `{"team":"web","object":"a","size":12582912,"part_size":-5}`, "part_size must be positive"},
		{"more than 10,000 parts", `{"team":"web","object":"a","size":52428800001,"part_size":5242880}`, "10000 parts"},
		{"a size that is not an integer", `{"team":"web","object":"a","size":1.5}`, `"size" must be an integer`},
		{"an invalid key", `{"team":"web","object":"../a","size":1}`, "object:"},
		{"an invalid content type", `{"team":"web","object":"a","size":1,"content_type":"not a type"}`, "content_type"},
		{"an expiry over seven days", `{"team":"web","object":"a","size":1,"expires_in":604801}`, "expires_in"},
		{"an unknown field", `{"team":"web","object":"a","size":1,"operation":"write"}`, "unknown field"},
		{"a duplicated size", `{"team":"web","object":"a","size":1,"size":2}`, `field "size" appears more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, "POST", "/v1/uploads", aliceKey, tt.givenBody)
			if r.status != 400 || r.body["code"] != "invalid_request" || !strings.Contains(fmt.Sprint(r.body["detail"]), tt.wantDetail) {
				t.Fatalf("got %d %s, want 400 mentioning %q", r.status, r.raw, tt.wantDetail)
			}
		})
	}
	t.Run("a body without a Content-Type", func(t *testing.T) {
		r := h.do(t, "POST", "/v1/uploads", aliceKey, `{"team":"web","object":"a","size":1}`, "Content-Type", "")
		if r.status != 415 {
			t.Fatalf("got %d %s, want 415", r.status, r.raw)
		}
	})
	if len(h.records.recs) != 0 {
		t.Fatalf("%d decision records; a request refused before the policy has none", len(h.records.recs))
	}
}

func TestUploadPlansAzureBlocks(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "POST", "/v1/uploads", aliceKey, `{"team":"web","object":"data/set.tar","size":12582912,"part_size":5242880,"expires_in":900}`)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	b := r.body
	if b["flow"] != signer.FlowAzureBlocks || b["provider"] != "azure" || b["bucket"] != "acme-web" || b["key"] != "web/data/set.tar" ||
		b["size"] != float64(12582912) || b["part_size"] != float64(5242880) || b["expires_at"] != "2026-11-27T10:15:00Z" || b["decision_id"] == "" {
		t.Fatalf("answer %s", r.raw)
	}
	parts := b["parts"].([]any)
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	last := parts[2].(map[string]any)
	if last["part_number"] != float64(3) || last["offset"] != float64(10485760) || last["length"] != float64(2097152) ||
		last["block_id"] == "" || !strings.Contains(last["url"].(string), "comp=block") {
		t.Fatalf("last part %v", last)
	}
	complete := b["complete"].(map[string]any)
	if complete["method"] != "PUT" || !strings.Contains(complete["url"].(string), "comp=blocklist") ||
		!strings.Contains(complete["body"].(string), "<Latest>"+last["block_id"].(string)+"</Latest>") {
		t.Fatalf("complete %v", complete)
	}
	if len(h.records.recs) != 1 || h.records.recs[0].Endpoint != "/v1/uploads" || h.records.recs[0].Status != 200 ||
		h.records.recs[0].Input.Action.Size != 12582912 || h.records.recs[0].Input.Action.Operation != "write" {
		t.Fatalf("records %+v", h.records.recs)
	}
}

func TestUploadSignsAGCSResumableStart(t *testing.T) {
	h := newHarness(t, withGCS(t), withTeams(t, nil))
	r := h.do(t, "POST", "/v1/uploads", bobKey, `{"team":"nlp","object":"ckpt.bin","size":12582912,"content_type":"application/octet-stream"}`)
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	start := r.body["start"].(map[string]any)
	headers := start["headers"].(map[string]any)
	if r.body["flow"] != signer.FlowGCSResumable || start["method"] != "POST" || headers["x-goog-resumable"] != "start" ||
		headers["x-goog-content-length-range"] != "0,12582912" || headers["Content-Type"] != "application/octet-stream" {
		t.Fatalf("answer %s", r.raw)
	}
	if parts := r.body["parts"].([]any); len(parts) != 2 || parts[0].(map[string]any)["headers"].(map[string]any)["Content-Range"] != "bytes 0-8388607/12582912" {
		t.Fatalf("parts %v", parts)
	}
}

func TestUploadRefuses(t *testing.T) {
	azureCaps := func(constraints map[string]any) map[string]any {
		return map[string]any{"uploads": teamData("web-azure", "uploads/", map[string]any{"upload_constraints": constraints, "members": []any{"alice"}})}
	}
	tests := []struct {
		name       string
		givenTeams map[string]any
		givenKey   string
		givenBody  string
		wantStatus int
		wantCode   string
		wantInBody string
	}{
		{name: "a team the caller is not in", givenKey: bobKey, givenBody: `{"team":"web","object":"a","size":1}`,
			wantStatus: 403, wantCode: "denied", wantInBody: "not_team_member"},
		{name: "a size over the team's max_upload_bytes", givenKey: aliceKey, givenBody: `{"team":"vision","object":"a","size":68719476737}`,
			wantStatus: 403, wantCode: "denied", wantInBody: "upload_too_large"},
		{name: "a block over Azure's 4000 MiB", givenKey: aliceKey, givenBody: `{"team":"web","object":"a","size":10737418240,"part_size":4299161600}`,
			wantStatus: 400, wantCode: "invalid_request", wantInBody: "4000 MiB"},
		{name: "a content type an Azure SAS cannot bind", givenKey: aliceKey, givenBody: `{"team":"web","object":"a","size":1,"content_type":"image/png"}`,
			wantStatus: 422, wantCode: "unsupported_by_provider"},
		{name: "a max_bytes constraint Azure cannot enforce", givenTeams: azureCaps(map[string]any{"max_bytes": 100}),
			givenKey: aliceKey, givenBody: `{"team":"uploads","object":"a","size":50}`, wantStatus: 422, wantCode: "constraint_unenforceable", wantInBody: "max_bytes"},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			h := newHarness(t, withTeams(t, tt.givenTeams))
			h.records.recs = nil
			r := h.do(t, "POST", "/v1/uploads", tt.givenKey, tt.givenBody)
			if r.status != tt.wantStatus || r.body["code"] != tt.wantCode || !strings.Contains(r.raw, tt.wantInBody) {
				t.Fatalf("got %d %s, want %d %s with %q", r.status, r.raw, tt.wantStatus, tt.wantCode, tt.wantInBody)
			}
			if r.body["decision_id"] == nil || r.body["url"] != nil || r.body["parts"] != nil {
				t.Fatalf("a refusal after the policy carries its decision id and no URL: %s", r.raw)
			}
			if len(h.records.recs) != 1 || h.records.recs[0].Status != tt.wantStatus {
				t.Fatalf("records %+v", h.records.recs)
			}
		})
	}
}

func TestUploadReportsAdvisoryConstraints(t *testing.T) {
	h := newHarness(t, withTeams(t, map[string]any{"web": teamData("web-azure", "web/", map[string]any{
		"upload_constraints": map[string]any{"max_bytes": 100, "advisory": []any{"max_bytes"}},
	})}))
	r := h.do(t, "POST", "/v1/uploads", aliceKey, `{"team":"web","object":"a","size":50}`)
	if r.status != 200 || fmt.Sprint(r.body["unenforced_constraints"]) != "[max_bytes]" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	r = h.do(t, "POST", "/v1/uploads", aliceKey, `{"team":"web","object":"a","size":101}`)
	if r.status != 403 || !strings.Contains(r.raw, "upload_too_large") {
		t.Fatalf("an advisory cap still caps the declared size: got %d %s", r.status, r.raw)
	}
}
