package server_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestOpenAPIDescribesEveryRoute keeps docs/openapi.yaml and the router in
// step: every API route is documented, and nothing documented is missing.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	h := newHarness(t)
	var routed []string
	for _, r := range h.e.Routes() {
		// /metrics is Prometheus' exposition format, documented in
		// docs/operations.md, not part of the JSON API.
		if r.Path == "/metrics" || strings.HasPrefix(r.Method, "echo_route_not_found") || r.Method == "echo_route_any" {
			continue
		}
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		routed = append(routed, r.Method+" "+path)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	routed = slices.Compact(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("docs/openapi.yaml documents\n  %s\nbut the server routes\n  %s", strings.Join(documented, "\n  "), strings.Join(routed, "\n  "))
	}
}
