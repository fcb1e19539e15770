package authz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// policyBundle makes an in-memory bundle whose decision is the given Rego
// expression.
func policyBundle(t testing.TB, decision string) *bundle.Bundle {
	t.Helper()
	src := "package signgate.authz\n\ndecision := " + decision + "\n"
	m, err := ast.ParseModuleWithOpts("authz.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return &bundle.Bundle{
		Modules: []bundle.ModuleFile{{Path: "/authz.rego", URL: "/authz.rego", Raw: []byte(src), Parsed: m}},
		Data:    map[string]any{},
	}
}

func input(op string) *Input {
	return &Input{
		Subject: Subject{ID: "alice", Teams: []string{"vision"}, AuthMethod: "api_key"},
		Action:  Action{Team: "vision", Operation: op, Object: "a.txt", ExpiresIn: 60},
		Source:  Source{IP: "127.0.0.1"},
		Time:    "2026-11-27T10:00:00Z",
	}
}

// allowRead allows only read and echoes the input so tests can see it.
const allowRead = `{"allow": [input.action.team, input.action.operation] == ["vision", "read"], "reasons": [r | input.action.operation != "read"; r := "operation_not_allowed"],
 "connector": "c1", "key": concat("", ["vision/", input.action.object]), "operation": input.action.operation,
 "ttl_seconds": object.get(input.action, "expires_in", 0)}`

func TestDecide(t *testing.T) {
	tests := []struct {
		name         string
		givenPolicy  string
		givenOp      string
		wantAllow    bool
		wantErr      error
		wantReasons  []string
		wantTTL      time.Duration
		wantKey      string
		wantErrMatch string
	}{
		{name: "allows with the policy's key and TTL", givenPolicy: allowRead, givenOp: "read", wantAllow: true, wantTTL: time.Minute, wantKey: "vision/a.txt"},
		{name: "denies with the policy's reasons", givenPolicy: allowRead, givenOp: "write", wantReasons: []string{"operation_not_allowed"}},
		{name: "gives a default reason to a silent deny", givenPolicy: `{"allow": false}`, givenOp: "read", wantReasons: []string{"denied"}},
		{name: "fails closed on allow without a connector", givenPolicy: `{"allow": true, "key": "k", "operation": "read", "ttl_seconds": 5}`, givenOp: "read", wantErr: ErrPolicy, wantErrMatch: "connector"},
		{name: "fails closed on allow without a key", givenPolicy: `{"allow": true, "connector": "c1", "operation": "read", "ttl_seconds": 5}`, givenOp: "read", wantErr: ErrPolicy, wantErrMatch: "key"},
		{name: "fails closed on a zero TTL", givenPolicy: `{"allow": true, "connector": "c1", "key": "k", "operation": "read", "ttl_seconds": 0}`, givenOp: "read", wantErr: ErrPolicy, wantErrMatch: "ttl"},
		{name: "fails closed on a negative TTL", givenPolicy: `{"allow": true, "connector": "c1", "key": "k", "operation": "read", "ttl_seconds": -1}`, givenOp: "read", wantErr: ErrPolicy},
		{name: "fails closed on a fractional TTL", givenPolicy: `{"allow": true, "connector": "c1", "key": "k", "operation": "read", "ttl_seconds": 1.5}`, givenOp: "read", wantErr: ErrPolicy},
		{name: "fails closed on a string TTL", givenPolicy: `{"allow": true, "connector": "c1", "key": "k", "operation": "read", "ttl_seconds": "60"}`, givenOp: "read", wantErr: ErrPolicy},
		{name: "fails closed on an operation other than the one asked", givenPolicy: `{"allow": true, "connector": "c1", "key": "k", "operation": "write", "ttl_seconds": 5}`, givenOp: "read", wantErr: ErrPolicy, wantErrMatch: "operation"},
		{name: "fails closed on an unknown connector", givenPolicy: `{"allow": true, "connector": "elsewhere", "key": "k", "operation": "read", "ttl_seconds": 5}`, givenOp: "read", wantErr: ErrPolicy, wantErrMatch: "unknown connector"},
		{name: "fails closed on a non-boolean allow", givenPolicy: `{"allow": "yes", "connector": "c1", "key": "k", "operation": "read", "ttl_seconds": 5}`, givenOp: "read", wantErr: ErrPolicy},
		{name: "fails closed on a non-object decision", givenPolicy: `true`, givenOp: "read", wantErr: ErrPolicy},
		{name: "fails closed on malformed reasons", givenPolicy: `{"allow": false, "reasons": "nope"}`, givenOp: "read", wantErr: ErrPolicy},
		{name: "fails closed on an undefined decision", givenPolicy: `{"allow": false} if { false }`, givenOp: "read", wantErr: ErrPolicy, wantErrMatch: "undefined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New()
			_ = e.SetConnectors([]string{"c1"})
			rev := compile(t, e, tc.givenPolicy)
			d, err := e.eval(context.Background(), rev, input(tc.givenOp))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErrMatch) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErrMatch)
				}
				if d.Allow {
					t.Fatal("a failed decision must not allow")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if d.Allow != tc.wantAllow || d.TTL != tc.wantTTL || d.Key != tc.wantKey {
				t.Fatalf("got allow=%v ttl=%v key=%q, want %v %v %q", d.Allow, d.TTL, d.Key, tc.wantAllow, tc.wantTTL, tc.wantKey)
			}
			if strings.Join(d.Reasons, ",") != strings.Join(tc.wantReasons, ",") {
				t.Fatalf("reasons = %v, want %v", d.Reasons, tc.wantReasons)
			}
			if d.Revision == "" {
				t.Fatal("decision carries no revision")
			}
		})
	}
}

// compile prepares a policy without Activate's probe, which would (rightly)
// refuse the broken policies under test.
func compile(t *testing.T, _ *Engine, decision string) *revision {
	t.Helper()
	return mustPrepare(t, policyBundle(t, decision))
}

func TestActivateKeepsLastKnownGood(t *testing.T) {
	e := New()
	if e.Ready() {
		t.Fatal("a new engine must not be ready")
	}
	if _, err := e.Decide(context.Background(), input("read")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Decide before activation: err = %v, want ErrNotReady", err)
	}
	if err := e.Activate(context.Background(), policyBundle(t, allowRead), "good"); err != nil {
		t.Fatalf("activate good: %v", err)
	}
	good, _ := e.Status()
	bad := []struct{ name, decision string }{
		{"undefined decision", `{"allow": false} if { false }`},
		{"allows an unknown team", `{"allow": true, "connector": "c1", "key": "k", "operation": "read", "ttl_seconds": 5}`},
		{"not an object", `"allow"`},
		{"does not compile", `{"allow": undefined_function(1)}`},
	}
	for _, tc := range bad {
		t.Run("rejects a policy that "+tc.name, func(t *testing.T) {
			if err := e.Activate(context.Background(), policyBundle(t, tc.decision), tc.name); err == nil {
				t.Fatal("bad policy was activated")
			}
			st, _ := e.Status()
			if st.Revision != good.Revision || st.Source != "good" {
				t.Fatalf("active revision changed to %+v", st)
			}
			if _, err := e.Decide(context.Background(), input("read")); err != nil {
				t.Fatalf("the previous revision stopped answering: %v", err)
			}
		})
	}
}

func TestRevisionDiffersWithContent(t *testing.T) {
	a := Revision(policyBundle(t, allowRead))
	b := Revision(policyBundle(t, `{"allow": false}`))
	if a == b || !strings.HasPrefix(a, "sha256:") {
		t.Fatalf("revisions %q and %q", a, b)
	}
	m := policyBundle(t, allowRead)
	m.Manifest.Revision = "2026-11-27.1"
	if got := Revision(m); got != "2026-11-27.1" {
		t.Fatalf("manifest revision ignored: %q", got)
	}
}
