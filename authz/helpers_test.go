package authz

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"
)

func mustPrepare(t *testing.T, b *bundle.Bundle) *revision {
	t.Helper()
	b.Manifest.Init()
	pq, err := rego.New(rego.Query(Query), rego.ParsedBundle("signgate", b)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	return &revision{query: pq, id: Revision(b), source: "under-test"}
}
