package server_test

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/signgate/signgate/server/ratelimit"
)

// TestOpenAPIDocumentsTheClientErrorsEachRouteGives drives every API route
// into each client error it can give and checks that docs/openapi.yaml
// lists exactly those 4xx answers for the route, so generated clients know
// every one, and the file promises none that cannot happen.
func TestOpenAPIDocumentsTheClientErrorsEachRouteGives(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}

	read := `{"team":"vision","operation":"read","object":"a"}`
	tooBig := func(n int) string { return `{"team":"` + strings.Repeat("a", n) + `"}` }
	const textPlain = "text/plain"
	tests := []struct {
		name             string
		givenMethod      string
		givenPath        string
		givenKey         string
		givenBody        string
		givenContentType string
		givenGone        bool // the client has gone before the answer
		wantStatus       int
	}{
		{"sign: malformed JSON", "POST", "/v1/sign", aliceKey, `{"team":`, "", false, 400},
		{"sign: no credentials", "POST", "/v1/sign", "", read, "", false, 401},
		{"sign: a team the caller is not in", "POST", "/v1/sign", bobKey, `{"team":"web","operation":"read","object":"a"}`, "", false, 403},
		{"sign: a body over the limit", "POST", "/v1/sign", aliceKey, tooBig(70 << 10), "", false, 413},
		{"sign: a body that is not JSON", "POST", "/v1/sign", aliceKey, read, textPlain, false, 415},
		{"sign: a content type Azure cannot bind", "POST", "/v1/sign", aliceKey, `{"team":"web","operation":"write","object":"a","content_type":"text/plain"}`, "", false, 422},
		{"sign: a client that has gone", "POST", "/v1/sign", aliceKey, read, "", true, 499},

		{"batch: no items", "POST", "/v1/sign/batch", aliceKey, `{"items":[]}`, "", false, 400},
		{"batch: no credentials", "POST", "/v1/sign/batch", "", `{"items":[` + read + `]}`, "", false, 401},
		{"batch: a body over the limit", "POST", "/v1/sign/batch", aliceKey, tooBig(33 * 64 << 10), "", false, 413},
		{"batch: a body that is not JSON", "POST", "/v1/sign/batch", aliceKey, `{"items":[` + read + `]}`, textPlain, false, 415},

		{"uploads: malformed JSON", "POST", "/v1/uploads", aliceKey, `{"team":`, "", false, 400},
		{"uploads: no credentials", "POST", "/v1/uploads", "", `{"team":"vision","object":"a","size":1}`, "", false, 401},
		{"uploads: a team the caller is not in", "POST", "/v1/uploads", bobKey, `{"team":"web","object":"a","size":1}`, "", false, 403},
		{"uploads: a body over the limit", "POST", "/v1/uploads", aliceKey, tooBig(70 << 10), "", false, 413},
		{"uploads: a body that is not JSON", "POST", "/v1/uploads", aliceKey, `{"team":"vision","object":"a","size":1}`, textPlain, false, 415},
		{"uploads: a content type Azure cannot bind", "POST", "/v1/uploads", aliceKey, `{"team":"web","object":"a","size":1,"content_type":"image/png"}`, "", false, 422},
		{"uploads: a client that has gone", "POST", "/v1/uploads", aliceKey, `{"team":"vision","object":"a","size":1}`, "", true, 499},

		{"decide: malformed JSON", "POST", "/v1/decide", aliceKey, `{"team":`, "", false, 400},
		{"decide: no credentials", "POST", "/v1/decide", "", read, "", false, 401},
		{"decide: an explanation for a subject not allowed one", "POST", "/v1/decide?explain=full", aliceKey, read, "", false, 403},
		{"decide: a body over the limit", "POST", "/v1/decide", aliceKey, tooBig(70 << 10), "", false, 413},
		{"decide: a body that is not JSON", "POST", "/v1/decide", aliceKey, read, textPlain, false, 415},
		{"decide: a client that has gone", "POST", "/v1/decide", aliceKey, read, "", true, 499},

		{"policy: no credentials", "GET", "/v1/policy", "", "", "", false, 401},
		{"connectors: no credentials", "GET", "/v1/connectors", "", "", "", false, 401},
	}
	h := newHarness(t)
	given := map[string][]int{} // "POST /v1/sign" -> the 4xx statuses seen
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.givenContentType != "" {
				hdr = []string{"Content-Type", tt.givenContentType}
			}
			if tt.givenGone {
				hdr = append(hdr, goneHeader, "1")
			}
			r := h.do(t, tt.givenMethod, tt.givenPath, tt.givenKey, tt.givenBody, hdr...)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			route := tt.givenMethod + " " + strings.SplitN(tt.givenPath, "?", 2)[0]
			given[route] = append(given[route], r.status)
		})
	}

	// Every authenticated route answers 429 to a principal over its budget:
	// with a budget of one unit, the second call.
	for _, route := range []struct{ method, path, body string }{
		{"POST", "/v1/sign", read}, {"POST", "/v1/sign/batch", `{"items":[` + read + `]}`},
		{"POST", "/v1/uploads", `{"team":"web","object":"a","size":1}`}, {"POST", "/v1/decide", read},
		{"GET", "/v1/policy", ""}, {"GET", "/v1/connectors", ""},
	} {
		t.Run(route.path+": a principal over its budget", func(t *testing.T) {
			hl, _, _ := limitedHarness(t, ratelimit.Limit{Rate: 1, Burst: 1}, 4)
			hl.do(t, route.method, route.path, aliceKey, route.body)
			r := hl.do(t, route.method, route.path, aliceKey, route.body)
			if r.status != 429 || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d, want a 429 problem: %s", r.status, r.raw)
			}
			given[route.method+" "+route.path] = append(given[route.method+" "+route.path], r.status)
		})
	}

	for path, ops := range doc.Paths {
		for method, op := range ops {
			route := strings.ToUpper(method) + " " + path
			var documented []int
			for code := range maps.Keys(op.Responses) {
				if n, err := strconv.Atoi(code); err == nil && n >= 400 && n < 500 {
					documented = append(documented, n)
				} else if err != nil {
					t.Errorf("%s: response %q is not a status code", route, code)
				}
			}
			seen := given[route]
			slices.Sort(documented)
			slices.Sort(seen)
			if seen = slices.Compact(seen); !slices.Equal(documented, seen) {
				t.Errorf("%s: docs/openapi.yaml documents the client errors %v; the route gives %v", route, documented, seen)
			}
		}
	}
}
