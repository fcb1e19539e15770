package server_test

import (
	"context"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles/bundletest"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
)

// registerPanicBuiltin registers test_panic_if(s), a builtin that panics
// when s is "trap": a bug inside the policy evaluator itself.
var registerPanicBuiltin = sync.OnceFunc(func() {
	rego.RegisterBuiltin1(&rego.Function{Name: "test_panic_if", Decl: types.NewFunction(types.Args(types.S), types.B)},
		func(_ rego.BuiltinContext, a *ast.Term) (*ast.Term, error) {
			if s, _ := a.Value.(ast.String); s == "trap" {
				panic("evaluator bug")
			}
			return ast.BooleanTerm(true), nil
		})
})

// evalPanicHarness grants team vision every object on connector
// "vision-s3", after a call of test_panic_if(object).
func evalPanicHarness(t *testing.T) *harness {
	t.Helper()
	registerPanicBuiltin()
	engine := authz.New()
	t.Cleanup(engine.Close)
	files := bundletest.Files{"authz.rego": `package signgate.authz

decision := {
	"allow": true,
	"reasons": [],
	"connector": "vision-s3",
	"key": input.action.object,
	"operation": input.action.operation,
	"ttl_seconds": 60,
} if {
	input.action.team == "vision"
	test_panic_if(input.action.object)
} else := {"allow": false, "reasons": ["unknown_team"]}
`}
	if err := engine.Activate(context.Background(), bundletest.Build(t, files, "r1", nil), "test"); err != nil {
		t.Fatal(err)
	}
	auth, err := server.NewAPIKeys([]config.APIKey{{SHA256: sum(aliceKey), Subject: "alice", Teams: []string{"vision"}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return &harness{e: server.New(engine, exampleSigners(t), auth, server.WithClock(clock), server.WithAuditor(rec)), records: rec}
}

func TestAPanicWhileTheEngineEvaluatesIsOneDecisionsFiveHundred(t *testing.T) {
	t.Run("on /v1/sign, and the next request is served", func(t *testing.T) {
		h := evalPanicHarness(t)
		wantTrapIsOneFiveHundred(t, h, "evaluator bug")
		if r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"read","object":"a"}`); r.status != 200 {
			t.Fatalf("after the panic: %d %s", r.status, r.raw)
		}
	})
	t.Run("in a batch item, leaving the other items alone", func(t *testing.T) {
		h := evalPanicHarness(t)
		wantTrapItemAlone(t, h)
	})
}
