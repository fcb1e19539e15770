package authz_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
)

// oneLinePolicy is the least a policy can answer: a grant computed from the
// input alone, with no data and no rule but the decision. It is the
// engine's own cost (input conversion, evaluation set-up, parsing the
// decision), the floor under any policy.
const oneLinePolicy = `package signgate.authz

decision := {"allow": startswith(input.action.team, "team-"), "reasons": [], "connector": "c1", "key": concat("/", [input.action.team, input.action.object]), "operation": input.action.operation, "ttl_seconds": object.get(input.action, "expires_in", 0)}
`

// BenchmarkDecidePolicyRatio measures, in the same loop and so under the
// same load, one decision of the default policy with 100 generated teams
// and one decision of oneLinePolicy on the same engine, for the same
// requests. The "ratio" metric is the first over the second: what the
// shipped policy costs beyond the engine's floor (docs/performance.md).
func BenchmarkDecidePolicyRatio(b *testing.B) {
	const n = 100
	ctx := context.Background()
	bn, err := bundles.LoadFS(policies.FS)
	if err != nil {
		b.Fatal(err)
	}
	teams, inputs := generateTeams(n)
	bn.Data = map[string]any{"signgate": map[string]any{"teams": teams}}
	full := authz.New()
	if err := full.Activate(ctx, bn, "generated"); err != nil {
		b.Fatal(err)
	}
	m, err := ast.ParseModuleWithOpts("oneline.rego", oneLinePolicy, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		b.Fatal(err)
	}
	one := authz.New()
	oneBundle := &bundle.Bundle{
		Modules: []bundle.ModuleFile{{Path: "/oneline.rego", URL: "/oneline.rego", Raw: []byte(oneLinePolicy), Parsed: m}},
		Data:    map[string]any{},
	}
	if err := one.Activate(ctx, oneBundle, "one-line"); err != nil {
		b.Fatal(err)
	}
	var fullT, oneT time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := inputs[i%n]
		i++
		t0 := time.Now()
		d, err := full.Decide(ctx, in)
		t1 := time.Now()
		if err != nil || !d.Allow {
			b.Fatalf("default policy, team %s: decision %+v, err %v", in.Action.Team, d, err)
		}
		d, err = one.Decide(ctx, in)
		t2 := time.Now()
		if err != nil || !d.Allow {
			b.Fatalf("one-line policy, team %s: decision %+v, err %v", in.Action.Team, d, err)
		}
		fullT += t1.Sub(t0)
		oneT += t2.Sub(t1)
	}
	if i > 0 && oneT > 0 {
		b.ReportMetric(float64(fullT.Nanoseconds())/float64(i), "default_ns/op")
		b.ReportMetric(float64(oneT.Nanoseconds())/float64(i), "oneline_ns/op")
		b.ReportMetric(float64(fullT)/float64(oneT), "ratio")
	}
}
