package bundles_test

import (
	"context"
	"testing"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
)

// BenchmarkDecide measures one decision of the default policy with its
// example data: the policy cost of every sign request.
func BenchmarkDecide(b *testing.B) {
	e := bundles.New()
	bn, err := bundles.LoadFS(policies.FS)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Activate(context.Background(), bn, "embedded"); err != nil {
		b.Fatal(err)
	}
	in := &bundles.Input{
		Subject: bundles.Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "api_key"},
		Action:  bundles.Action{Team: "vision", Operation: "read", Object: "runs/42/model.pt", ExpiresIn: 900},
		Source:  bundles.Source{IP: "10.1.2.3", UserAgent: "bench"},
		Time:    "2026-11-27T10:00:00Z",
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, err %v", d, err)
		}
	}
}
